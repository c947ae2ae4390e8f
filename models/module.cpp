#include "tapegrad/models/module.hpp"

#include <cxxabi.h>

#include <cstdlib>
#include <mutex>
#include <typeinfo>
#include <unordered_map>

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace tg {
namespace {

std::mutex coverage_mutex;
std::set<std::string>& module_coverage() {
  static std::set<std::string> names;
  return names;
}

void collect_types(const Module& m, std::set<std::string>& out) {
  out.insert(m.type_name());
  for (const auto& [name, child] : m.children()) collect_types(*child, out);
}

}  // namespace

Module::~Module() = default;

void Module::register_parameter(const std::string& name, Var& slot, Tensor value) {
  if (name.empty() || name.find('.') != std::string::npos) {
    throw Error(fmt::format("{}::register_parameter: name '{}' must be non-empty and without dots", type_name(), name));
  }
  for (const auto& [existing, ptr] : params_) {
    if (existing == name) throw Error(fmt::format("{}: parameter '{}' registered twice", type_name(), name));
  }
  slot = Var::parameter(std::move(value), name);
  params_.emplace_back(name, &slot);
}

void Module::register_module(const std::string& name, Module& child) {
  if (name.empty() || name.find('.') != std::string::npos) {
    throw Error(fmt::format("{}::register_module: name '{}' must be non-empty and without dots", type_name(), name));
  }
  for (const auto& [existing, ptr] : children_) {
    if (existing == name) throw Error(fmt::format("{}: child module '{}' registered twice", type_name(), name));
  }
  children_.emplace_back(name, &child);
  child.rename_parameters(name + ".");
  child.train(training_);
}

void Module::rename_parameters(const std::string& prefix) {
  for (auto& [name, slot] : slots()) slot->set_name(prefix + name);
}

void Module::collect(const std::string& prefix, std::vector<std::pair<std::string, Var*>>& out) const {
  for (const auto& [name, slot] : params_) out.emplace_back(prefix + name, slot);
  for (const auto& [name, child] : children_) child->collect(prefix + name + ".", out);
}

std::vector<std::pair<std::string, Var*>> Module::slots() const {
  std::vector<std::pair<std::string, Var*>> out;
  collect("", out);
  return out;
}

std::vector<NamedVar> Module::named_parameters() const {
  std::vector<NamedVar> out;
  for (auto& [name, slot] : slots()) out.push_back({name, *slot});
  return out;
}

std::vector<Var> Module::parameters() const {
  std::vector<Var> out;
  for (auto& [name, slot] : slots()) out.push_back(*slot);
  return out;
}

std::size_t Module::parameter_count() const {
  std::size_t n = 0;
  for (auto& [name, slot] : slots()) n += slot->size();
  return n;
}

void Module::train(bool training) {
  training_ = training;
  for (auto& [name, child] : children_) child->train(training);
}

void Module::to(DType dtype) {
  for (auto& [name, slot] : slots()) {
    if (slot->dtype() != dtype) {
      slot->mutable_value() = slot->value().to(dtype);
      slot->zero_grad();
    }
  }
}

DType Module::dtype() const {
  auto all = slots();
  return all.empty() ? DType::f32 : all.front().second->dtype();
}

void Module::zero_grad() {
  for (auto& [name, slot] : slots()) slot->zero_grad();
}

StateDict Module::state_dict() const {
  StateDict out;
  for (auto& [name, slot] : slots()) out.push_back({name, slot->value()});
  return out;
}

LoadResult Module::load_state_dict(const StateDict& state, const LoadOptions& options) {
  std::unordered_map<std::string, const Tensor*> by_name;
  std::vector<std::string> duplicates;
  for (const NamedTensor& entry : state) {
    if (!by_name.emplace(entry.name, &entry.value).second) duplicates.push_back(entry.name);
  }
  if (!duplicates.empty()) {
    throw Error(fmt::format("{}::load_state_dict: the state dict names {} more than once", type_name(),
                            fmt::join(duplicates, ", ")));
  }
  auto all = slots();
  LoadResult result;
  std::vector<std::string> mismatched;
  std::set<std::string> known;
  for (auto& [name, slot] : all) {
    known.insert(name);
    auto it = by_name.find(name);
    if (it == by_name.end()) {
      result.missing_keys.push_back(name);
      continue;
    }
    const Tensor& t = *it->second;
    if (!t.defined() || t.shape() != slot->shape() || (options.strict_dtype && t.dtype() != slot->dtype())) {
      mismatched.push_back(fmt::format("'{}': expected {} {}, got {}", name, dtype_name(slot->dtype()),
                                       shape_str(slot->shape()),
                                       t.defined() ? fmt::format("{} {}", dtype_name(t.dtype()), shape_str(t.shape()))
                                                   : std::string("an undefined tensor")));
    }
  }
  for (const NamedTensor& entry : state) {
    if (known.count(entry.name) == 0) result.unexpected_keys.push_back(entry.name);
  }
  std::vector<std::string> problems;
  if (options.strict && !result.missing_keys.empty()) {
    problems.push_back(fmt::format("missing keys: {}", fmt::join(result.missing_keys, ", ")));
  }
  if (options.strict && !result.unexpected_keys.empty()) {
    problems.push_back(fmt::format("unexpected keys: {}", fmt::join(result.unexpected_keys, ", ")));
  }
  if (!mismatched.empty()) problems.push_back(fmt::format("mismatched: {}", fmt::join(mismatched, "; ")));
  if (!problems.empty()) {
    throw Error(fmt::format("{}::load_state_dict: nothing was loaded; {}", type_name(), fmt::join(problems, "; ")));
  }
  for (auto& [name, slot] : all) {
    auto it = by_name.find(name);
    if (it != by_name.end()) slot->mutable_value() = it->second->to(slot->dtype());
  }
  return result;
}

void Module::share_parameters(const Module& source) {
  const auto mine = slots(), theirs = source.slots();
  std::unordered_map<std::string, const Var*> theirs_by_name;
  for (const auto& [name, slot] : theirs) theirs_by_name.emplace(name, slot);
  std::set<std::string> my_names;
  std::vector<std::string> problems;
  for (const auto& [name, slot] : mine) {
    my_names.insert(name);
    auto it = theirs_by_name.find(name);
    if (it == theirs_by_name.end()) {
      problems.push_back(fmt::format("'{}': not in the source", name));
    } else if (it->second->shape() != slot->shape() || it->second->dtype() != slot->dtype()) {
      const Var& other = *it->second;
      problems.push_back(fmt::format("'{}': {} {} here, {} {} in the source", name, dtype_name(slot->dtype()),
                                     shape_str(slot->shape()), dtype_name(other.dtype()), shape_str(other.shape())));
    }
  }
  for (const auto& [name, slot] : theirs) {
    if (my_names.count(name) == 0) problems.push_back(fmt::format("'{}': only in the source", name));
  }
  if (!problems.empty()) {
    throw Error(fmt::format("{}::share_parameters: nothing was shared; {}", type_name(), fmt::join(problems, "; ")));
  }
  for (const auto& [name, slot] : mine) *slot = *theirs_by_name.at(name);
}

std::string Module::type_name() const {
  const char* mangled = typeid(*this).name();
  int status = 0;
  char* demangled = abi::__cxa_demangle(mangled, nullptr, nullptr, &status);
  std::string name = status == 0 && demangled != nullptr ? demangled : mangled;
  std::free(demangled);
  return name;
}

GradcheckReport gradcheck(Module& m, const std::function<Var(const std::vector<Var>&)>& f,
                          const std::vector<Tensor>& inputs, const GradcheckOptions& options) {
  auto all = m.slots();
  for (auto& [name, slot] : all) {
    if (slot->dtype() != DType::f64) {
      throw DTypeError(fmt::format("gradcheck({}): parameter '{}' is {}; check a float64 copy (copy_as(m, DType::f64))",
                                   m.type_name(), name, dtype_name(slot->dtype())));
    }
  }
  std::vector<Tensor> all_inputs;
  std::vector<Var> originals;
  for (auto& [name, slot] : all) {
    all_inputs.push_back(slot->value());
    originals.push_back(*slot);
  }
  all_inputs.insert(all_inputs.end(), inputs.begin(), inputs.end());
  // Puts the module's own parameters back however gradcheck ends.
  struct Restore {
    std::vector<std::pair<std::string, Var*>>& slots;
    std::vector<Var>& originals;
    ~Restore() {
      for (std::size_t i = 0; i < slots.size(); ++i) *slots[i].second = originals[i];
    }
  } restore{all, originals};

  const std::size_t num_params = all.size();
  auto wrapped = [&](const std::vector<Var>& xs) {
    for (std::size_t i = 0; i < num_params; ++i) {
      *all[i].second = xs[i];
      all[i].second->set_name(all[i].first);
    }
    return f(std::vector<Var>(xs.begin() + static_cast<std::ptrdiff_t>(num_params), xs.end()));
  };
  GradcheckReport report = gradcheck(wrapped, all_inputs, options);
  if (report.passed) {
    std::set<std::string> types;
    collect_types(m, types);
    std::lock_guard lock(coverage_mutex);
    module_coverage().insert(types.begin(), types.end());
  }
  return report;
}

const std::set<std::string>& gradchecked_modules() {
  std::lock_guard lock(coverage_mutex);
  return module_coverage();
}

namespace detail {

void become_copy(Module& copy, const Module& m, DType dtype) {
  copy.to(m.dtype());  // m's configuration says the dtype m was built with, not its dtype after to()
  copy.load_state_dict(m.state_dict());
  copy.to(dtype);
  if (!m.is_training()) copy.eval();
}

}  // namespace detail

}  // namespace tg
