#pragma once
/// RMSprop, exactly torch.optim.RMSprop. Per parameter, at each step with a gradient:
///
///   g = grad + weight_decay * p
///   v = alpha * v + (1 - alpha) * g * g       (square_avg, starts at 0)
///   a = alpha * a + (1 - alpha) * g           (grad_avg, centered only, starts at 0)
///   d = sqrt(v - a * a) + eps                 (centered) or sqrt(v) + eps
///   b = momentum * b + g / d; p = p - lr * b  (momentum > 0; b starts at 0)
///   p = p - lr * g / d                        (momentum == 0)

#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

#include "tapegrad/optim/optimizer.hpp"

namespace tg {

struct RmspropOptions {
  /// Learning rate, >= 0.
  double lr = 1e-2;
  /// Decay of the running mean of squared gradients, >= 0 (PyTorch checks only that).
  double alpha = 0.99;
  /// Added to the denominator for numerical stability, >= 0.
  double eps = 1e-8;
  /// L2 penalty, >= 0: weight_decay * p is added to the gradient.
  double weight_decay = 0;
  /// Momentum factor, >= 0; 0 keeps no momentum buffer.
  double momentum = 0;
  /// Normalise by an estimate of the gradient's variance (subtract the squared running mean).
  bool centered = false;
};

/// Per-parameter state of Rmsprop, allocated on the parameter's first step with a gradient.
struct RmspropState {
  /// Steps this parameter has taken (PyTorch keeps it; the update does not use it).
  std::int64_t step = 0;
  /// Running mean of squared gradients (v).
  Tensor square_avg;
  /// Velocity; defined only with momentum > 0.
  Tensor momentum_buffer;
  /// Running mean of gradients (a); defined only when centered.
  Tensor grad_avg;
};

class Rmsprop : public TypedOptimizer<RmspropOptions, RmspropState> {
 public:
  /// Throws tg::Error naming the option for lr, alpha, eps, weight_decay or
  /// momentum below 0 (or NaN); and for parameters as Optimizer's constructor does.
  Rmsprop(std::vector<Var> params, const RmspropOptions& options = {})
      : Rmsprop(one_group(std::move(params)), options) {}
  /// Parameter groups with their own lr and weight_decay (unset: the options').
  Rmsprop(std::vector<ParamGroup> groups, const RmspropOptions& options = {});

  void step() override;

 protected:
  std::vector<StateEntry> state_entries(std::size_t i) override;
};

}  // namespace tg
