#include "optimizer.hpp"

#include <unordered_set>

#include <fmt/format.h>

namespace tg {

Optimizer::Optimizer(const char* name, std::vector<Var> params, double lr)
    : params_(std::move(params)), name_(name), lr_(lr) {
  check_non_negative("lr", lr);
  if (params_.empty()) throw Error(fmt::format("{}: got an empty parameter list", name_));
  std::unordered_set<const Node*> seen;
  for (std::size_t i = 0; i < params_.size(); ++i) {
    const Var& p = params_[i];
    if (!p.defined()) throw Error(fmt::format("{}: parameter {} is an undefined Var", name_, i));
    if (!p.value().defined()) throw Error(fmt::format("{}: parameter {} has an undefined value", name_, i));
    if (!p.is_leaf()) {
      throw Error(fmt::format("{}: {} is not a leaf (it was computed by an op); optimizers update leaves "
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
  lr_ = lr;
}

const Tensor* Optimizer::gradient(std::size_t i) const {
  const Tensor& g = params_[i].grad();
  if (!g.defined()) return nullptr;
  const Tensor& v = params_[i].value();
  if (g.shape() != v.shape() || g.dtype() != v.dtype()) {
    throw Error(fmt::format("{}: the gradient of {} has shape {} and dtype {}; it must match the parameter",
                            name_, describe(i), shape_str(g.shape()), dtype_name(g.dtype())));
  }
  return &g;
}

void Optimizer::check_state(std::size_t i, const Tensor& buffer, const char* buffer_name) const {
  const Tensor& v = params_[i].value();
  if (buffer.shape() != v.shape() || buffer.dtype() != v.dtype()) {
    throw Error(fmt::format("{}: the state '{}' of {} has shape {} and dtype {}; the parameter's value was "
                            "replaced after the state was created",
                            name_, buffer_name, describe(i), shape_str(buffer.shape()), dtype_name(buffer.dtype())));
  }
}

void Optimizer::check_non_negative(const char* option, double value) const {
  if (!(value >= 0)) throw Error(fmt::format("{}: invalid {} = {}; it must be >= 0", name_, option, value));
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
