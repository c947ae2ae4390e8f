#pragma once
/// Adagrad, exactly torch.optim.Adagrad (dense gradients). Per parameter, at its
/// t-th step with a gradient:
///
///   g = grad + weight_decay * p
///   clr = lr / (1 + (t - 1) * lr_decay)
///   s = s + g * g                             (sum, starts at initial_accumulator_value)
///   p = p - clr * g / (sqrt(s) + eps)

#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

#include "tapegrad/optim/optimizer.hpp"

namespace tg {

struct AdagradOptions {
  /// Learning rate, >= 0.
  double lr = 1e-2;
  /// Decay of the learning rate with the parameter's step count, >= 0.
  double lr_decay = 0;
  /// L2 penalty, >= 0: weight_decay * p is added to the gradient.
  double weight_decay = 0;
  /// Starting value of every element of the sum of squares, >= 0.
  double initial_accumulator_value = 0;
  /// Added to the denominator for numerical stability, >= 0.
  double eps = 1e-10;
};

/// Per-parameter state of Adagrad, allocated on the parameter's first step
/// with a gradient (PyTorch fills it at construction; the steps are the same).
struct AdagradState {
  /// Steps this parameter has taken (t).
  std::int64_t step = 0;
  /// Sum of squared gradients (s).
  Tensor sum;
};

class Adagrad : public TypedOptimizer<AdagradOptions, AdagradState> {
 public:
  /// Throws tg::Error naming the option for lr, lr_decay, weight_decay,
  /// initial_accumulator_value or eps below 0 (or NaN); and for parameters as
  /// Optimizer's constructor does.
  Adagrad(std::vector<Var> params, const AdagradOptions& options = {})
      : Adagrad(one_group(std::move(params)), options) {}
  /// Parameter groups with their own lr and weight_decay (unset: the options').
  Adagrad(std::vector<ParamGroup> groups, const AdagradOptions& options = {});

  void step() override;

 protected:
  std::vector<StateEntry> state_entries(std::size_t i) override;
};

}  // namespace tg
