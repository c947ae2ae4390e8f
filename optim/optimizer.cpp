#include "tapegrad/optim/optimizer.hpp"

#include <charconv>
#include <cmath>
#include <set>
#include <unordered_set>

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace tg {

namespace {

// Step counts are stored as doubles, which hold every integer below 2^53
// (about 9.007e15) exactly; a larger count is refused.
constexpr double kMaxStepCount = 9e15;

// "param.12.exp_avg" -> {12, "exp_avg"}, "group.0.lr" -> {0, "lr"} for the
// prefix "param." or "group."; nullopt for any other shape of key.
std::optional<std::pair<std::size_t, std::string>> parse_key(const std::string& key, const std::string& prefix) {
  if (key.rfind(prefix, 0) != 0) return std::nullopt;
  const char* first = key.data() + prefix.size();
  const char* last = key.data() + key.size();
  std::size_t index = 0;
  auto [end, ec] = std::from_chars(first, last, index);
  if (ec != std::errc() || end == first || end == last || *end != '.' || end + 1 == last) return std::nullopt;
  return std::pair{index, std::string(end + 1, last)};
}

// Scalars of the state dict (step counts, lrs) are float64 rank-0 tensors:
// doubles hold every count and lr exactly.
std::string scalar_problem(const std::string& key, const Tensor& t) {
  if (!t.defined()) return fmt::format("'{}' is an undefined tensor", key);
  if (t.dtype() != DType::f64 || t.dim() != 0) {
    return fmt::format("'{}' has shape {} and dtype {}; it must be a float64 scalar (shape [])", key,
                       shape_str(t.shape()), dtype_name(t.dtype()));
  }
  return {};
}

}  // namespace

std::vector<ParamGroup> Optimizer::one_group(std::vector<Var> params) {
  std::vector<ParamGroup> groups(1);
  groups[0].params = std::move(params);
  return groups;
}

Optimizer::Optimizer(const char* name, std::vector<ParamGroup> groups, double lr, double weight_decay) : name_(name) {
  check_non_negative("lr", lr);
  check_non_negative("weight_decay", weight_decay);
  for (std::size_t g = 0; g < groups.size(); ++g) {
    GroupSettings s{groups[g].lr.value_or(lr), groups[g].weight_decay.value_or(weight_decay)};
    for (auto [option, value] : {std::pair{"lr", s.lr}, std::pair{"weight_decay", s.weight_decay}}) {
      if (!(value >= 0)) {
        throw Error(fmt::format("{}: invalid {} = {} in group {}; it must be >= 0", name_, option, value, g));
      }
    }
    groups_.push_back(s);
    for (Var& p : groups[g].params) {
      params_.push_back(std::move(p));
      group_of_.push_back(g);
    }
  }
  if (params_.empty()) throw Error(fmt::format("{}: got an empty parameter list", name_));
  std::unordered_set<const Node*> seen;
  for (std::size_t i = 0; i < params_.size(); ++i) {
    const Var& p = params_[i];
    if (!p.defined()) throw Error(fmt::format("{}: parameter {} is an undefined Var", name_, i));
    if (!p.value().defined()) throw Error(fmt::format("{}: parameter {} has an undefined value", name_, i));
    if (!p.is_leaf()) {
      throw Error(
          fmt::format("{}: {} is not a leaf (it was computed by an op); optimizers update leaves "
                      "(use detach() and set_requires_grad(true) for a leaf copy)",
                      name_, describe(i)));
    }
    if (!p.requires_grad()) {
      throw Error(fmt::format("{}: {} does not require grad, so it would never be updated", name_, describe(i)));
    }
    // One node twice would be updated twice per step.
    if (!seen.insert(p.node()).second) {
      throw Error(fmt::format("{}: {} appears more than once in the parameter list", name_, describe(i)));
    }
  }
}

Optimizer::~Optimizer() = default;

void Optimizer::zero_grad() {
  for (Var& p : params_) p.zero_grad();
}

void Optimizer::set_lr(double lr) {
  check_non_negative("lr", lr);
  for (GroupSettings& s : groups_) s.lr = lr;
}

double Optimizer::group_lr(std::size_t g) const {
  check_group(g);
  return groups_[g].lr;
}

void Optimizer::set_group_lr(std::size_t g, double lr) {
  check_group(g);
  if (!(lr >= 0)) throw Error(fmt::format("{}: invalid lr = {} in group {}; it must be >= 0", name_, lr, g));
  groups_[g].lr = lr;
}

double Optimizer::group_weight_decay(std::size_t g) const {
  check_group(g);
  return groups_[g].weight_decay;
}

std::size_t Optimizer::group_of(std::size_t i) const {
  check_index(i);
  return group_of_[i];
}

std::size_t Optimizer::group_of(const Var& param) const { return group_of_[index_of(param)]; }

void Optimizer::check_group(std::size_t g) const {
  if (g >= groups_.size()) {
    throw IndexError(fmt::format("{}: group {} is out of range for {} groups", name_, g, groups_.size()));
  }
}

std::map<std::string, Tensor> Optimizer::state_dict() const {
  std::map<std::string, Tensor> out;
  for (std::size_t g = 0; g < groups_.size(); ++g) {
    out[fmt::format("group.{}.lr", g)] = Tensor::scalar(groups_[g].lr, DType::f64);
  }
  // state_entries hands out pointers for load_state_dict too; here they are only read.
  auto& self = const_cast<Optimizer&>(*this);
  for (std::size_t i = 0; i < params_.size(); ++i) {
    const std::vector<StateEntry> entries = self.state_entries(i);
    if (entries.empty()) continue;
    const StateEntry& first = entries.front();
    const bool created = first.count != nullptr ? *first.count > 0 : first.tensor->defined();
    if (!created) continue;
    for (const StateEntry& e : entries) {
      const std::string key = fmt::format("param.{}.{}", i, e.name);
      out[key] = e.count != nullptr ? Tensor::scalar(static_cast<double>(*e.count), DType::f64) : *e.tensor;
    }
  }
  return out;
}

void Optimizer::load_state_dict(const std::map<std::string, Tensor>& state) {
  std::vector<std::string> problems;
  std::vector<std::vector<StateEntry>> entries(params_.size());
  std::vector<bool> present(params_.size(), false);
  for (std::size_t i = 0; i < params_.size(); ++i) entries[i] = state_entries(i);

  for (const auto& [key, t] : state) {
    if (auto group = parse_key(key, "group.")) {
      if (group->first < groups_.size() && group->second == "lr") {
        std::string problem = scalar_problem(key, t);
        if (problem.empty() && !(t.item() >= 0)) problem = fmt::format("'{}' = {} is not a valid lr", key, t.item());
        if (!problem.empty()) problems.push_back(problem);
        continue;
      }
      problems.push_back(group->first < groups_.size()
                             ? fmt::format("unexpected key '{}'", key)
                             : fmt::format("unexpected key '{}' (the optimizer has {} groups)", key, groups_.size()));
      continue;
    }
    auto param = parse_key(key, "param.");
    if (!param) {
      problems.push_back(fmt::format("unexpected key '{}'", key));
      continue;
    }
    const auto& [i, name] = *param;
    if (i >= params_.size()) {
      problems.push_back(fmt::format("unexpected key '{}' (the optimizer has {} parameters)", key, params_.size()));
      continue;
    }
    const StateEntry* entry = nullptr;
    for (const StateEntry& e : entries[i]) {
      if (name == e.name) entry = &e;
    }
    if (entry == nullptr) {
      problems.push_back(fmt::format("unexpected key '{}' ({} keeps no '{}' with these options)", key, name_, name));
      continue;
    }
    present[i] = true;
    if (entry->count != nullptr) {
      std::string problem = scalar_problem(key, t);
      if (problem.empty() && !(t.item() >= 0 && t.item() == std::floor(t.item()) && t.item() < kMaxStepCount)) {
        problem = fmt::format("'{}' = {} is not a step count", key, t.item());
      }
      if (!problem.empty()) problems.push_back(problem);
    } else {
      const Tensor& v = params_[i].value();
      if (!t.defined() || t.shape() != v.shape() || t.dtype() != v.dtype()) {
        problems.push_back(t.defined() ? fmt::format("'{}' has shape {} and dtype {}; {} needs its own", key,
                                                     shape_str(t.shape()), dtype_name(t.dtype()), describe(i))
                                       : fmt::format("'{}' is an undefined tensor", key));
      }
    }
  }
  for (std::size_t g = 0; g < groups_.size(); ++g) {
    const std::string key = fmt::format("group.{}.lr", g);
    if (!state.contains(key)) problems.push_back(fmt::format("missing key '{}'", key));
  }
  // A parameter's state is all there or all absent (fresh).
  for (std::size_t i = 0; i < params_.size(); ++i) {
    if (!present[i]) continue;
    for (const StateEntry& e : entries[i]) {
      const std::string key = fmt::format("param.{}.{}", i, e.name);
      if (!state.contains(key)) problems.push_back(fmt::format("missing key '{}'", key));
    }
  }
  if (!problems.empty()) {
    throw Error(fmt::format("{}: load_state_dict: {}", name_, fmt::join(problems, "; ")));
  }

  for (std::size_t g = 0; g < groups_.size(); ++g) groups_[g].lr = state.at(fmt::format("group.{}.lr", g)).item();
  for (std::size_t i = 0; i < params_.size(); ++i) {
    for (const StateEntry& e : entries[i]) {
      const std::string key = fmt::format("param.{}.{}", i, e.name);
      if (e.count != nullptr) {
        *e.count = present[i] ? static_cast<std::int64_t>(state.at(key).item()) : 0;
      } else if (present[i]) {
        *e.tensor = state.at(key);  // a deep copy: the optimizer owns its state
      } else {
        e.tensor->reset();
      }
    }
  }
}

const Tensor* Optimizer::gradient(std::size_t i) const {
  const Tensor& g = params_[i].grad();
  if (!g.defined()) return nullptr;
  const Tensor& v = params_[i].value();
  if (g.shape() != v.shape() || g.dtype() != v.dtype()) {
    throw Error(fmt::format("{}: the gradient of {} has shape {} and dtype {}; it must match the parameter", name_,
                            describe(i), shape_str(g.shape()), dtype_name(g.dtype())));
  }
  return &g;
}

void Optimizer::check_state(std::size_t i, const Tensor& buffer, const char* buffer_name) const {
  const Tensor& v = params_[i].value();
  if (buffer.shape() != v.shape() || buffer.dtype() != v.dtype()) {
    throw Error(
        fmt::format("{}: the state '{}' of {} has shape {} and dtype {}; the parameter's value was "
                    "replaced after the state was created",
                    name_, buffer_name, describe(i), shape_str(buffer.shape()), dtype_name(buffer.dtype())));
  }
}

void Optimizer::check_non_negative(const char* option, double value) const {
  if (!(value >= 0)) throw Error(fmt::format("{}: invalid {} = {}; it must be >= 0", name_, option, value));
}

void Optimizer::check_range(const char* option, double value, double low, double high) const {
  if (!(value >= low && value <= high)) {
    throw Error(fmt::format("{}: invalid {} = {}; it must be in [{}, {}]", name_, option, value, low, high));
  }
}

std::string Optimizer::describe(std::size_t i) const {
  const Var& p = params_[i];
  const std::string label = p.name().empty() ? "unnamed" : fmt::format("'{}'", p.name());
  return fmt::format("parameter {} ({}, shape {}, {})", i, label, shape_str(p.shape()), dtype_name(p.dtype()));
}

void Optimizer::check_index(std::size_t i) const {
  if (i >= params_.size()) {
    throw IndexError(fmt::format("{}: state index {} is out of range for {} parameters", name_, i, params_.size()));
  }
}

std::size_t Optimizer::index_of(const Var& param) const {
  for (std::size_t i = 0; i < params_.size(); ++i) {
    if (params_[i].node() == param.node()) return i;
  }
  throw IndexError(fmt::format("{}: the Var{} is not one of this optimizer's parameters", name_,
                               param.defined() && !param.name().empty() ? fmt::format(" '{}'", param.name()) : ""));
}

}  // namespace tg
