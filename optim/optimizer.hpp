#pragma once
/// Optimizer: the base of every optimizer in optim/.
///
/// An optimizer holds shared handles to the parameters it updates (leaves that
/// require grad) and one learning rate. A training step reads each parameter's
/// accumulated gradient and updates its value in place; parameters whose
/// gradient is undefined (no backward reached them) are skipped, their state
/// untouched, as PyTorch skips parameters whose grad is None.

#include <cstddef>
#include <string>
#include <vector>

#include "../autodiff/var.hpp"

namespace tg {

class Optimizer {
 public:
  virtual ~Optimizer();
  Optimizer(const Optimizer&) = delete;
  Optimizer& operator=(const Optimizer&) = delete;

  /// One update of every parameter whose gradient is defined.
  virtual void step() = 0;
  /// Makes every parameter's gradient undefined (PyTorch's set_to_none), so
  /// the next backward starts from nothing and unreached parameters are skipped.
  void zero_grad();

  double lr() const { return lr_; }
  /// Changes the learning rate for the following steps (schedules); must be >= 0.
  void set_lr(double lr);
  const std::vector<Var>& parameters() const { return params_; }
  /// "Adam", "Sgd": the name errors start with.
  const char* name() const { return name_; }

 protected:
  /// Throws tg::Error if `params` is empty, holds an undefined Var, a value
  /// that is not a leaf or does not require grad, or one parameter twice.
  Optimizer(const char* name, std::vector<Var> params, double lr);

  /// The gradient step() should use for parameter i: null when it is
  /// undefined (skip the parameter); throws if its shape or dtype differs
  /// from the parameter's value.
  const Tensor* gradient(std::size_t i) const;
  /// Throws if a state buffer of parameter i no longer fits its value (the
  /// value was replaced by one of another shape or dtype after the first step).
  void check_state(std::size_t i, const Tensor& buffer, const char* buffer_name) const;
  /// Throws unless value >= 0 (NaN included), naming the option.
  void check_non_negative(const char* option, double value) const;
  /// "parameter 1 ('fc.weight', shape [3, 4], float32)": how errors name a parameter.
  std::string describe(std::size_t i) const;
  /// Throws IndexError unless i < parameters().size(); for state accessors.
  void check_index(std::size_t i) const;
  /// Index of `param` (the same node) in parameters(); throws if absent.
  std::size_t index_of(const Var& param) const;

  std::vector<Var> params_;

 private:
  const char* name_;
  double lr_;
};

}  // namespace tg
