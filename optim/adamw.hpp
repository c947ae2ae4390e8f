#pragma once
/// AdamW, exactly torch.optim.AdamW: Adam with decoupled weight decay
/// (Loshchilov & Hutter), as PyTorch builds it, a subclass of Adam that sets
/// decoupled_weight_decay. Per parameter, at its t-th step with a gradient:
///
///   p = p * (1 - lr * weight_decay)           (decay first, not through the moments)
///   m = beta1 * m + (1 - beta1) * g           (exp_avg, starts at 0)
///   v = beta2 * v + (1 - beta2) * g * g       (exp_avg_sq, starts at 0)
///   vmax = max(vmax, v)                       (amsgrad only; then v below means vmax)
///   p = p - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)

#include <utility>
#include <vector>

#include "tapegrad/optim/adam.hpp"
#include "tapegrad/optim/optimizer.hpp"

namespace tg {

/// Adam's options less decoupled_weight_decay (always set), with PyTorch's
/// AdamW default weight decay.
struct AdamWOptions {
  /// Learning rate, >= 0.
  double lr = 1e-3;
  /// Decay of the running mean of gradients, in [0, 1).
  double beta1 = 0.9;
  /// Decay of the running mean of squared gradients, in [0, 1).
  double beta2 = 0.999;
  /// Added to the denominator for numerical stability, >= 0.
  double eps = 1e-8;
  /// Decoupled weight decay, >= 0: each step multiplies p by 1 - lr * weight_decay.
  double weight_decay = 1e-2;
  /// Normalise by the running maximum of exp_avg_sq (AMSGrad).
  bool amsgrad = false;
};

/// AdamW keeps Adam's state (step, exp_avg, exp_avg_sq, max_exp_avg_sq).
using AdamWState = AdamState;

class AdamW : public Adam {
 public:
  /// Throws tg::Error naming the option for lr, eps or weight_decay below 0
  /// (or NaN), or a beta outside [0, 1); and for parameters as Optimizer's
  /// constructor does.
  AdamW(std::vector<Var> params, const AdamWOptions& options = {}) : AdamW(one_group(std::move(params)), options) {}
  /// Parameter groups with their own lr and weight_decay (unset: the options').
  AdamW(std::vector<ParamGroup> groups, const AdamWOptions& options = {});

  /// The options, with group 0's lr (as set_lr() left it) and weight_decay.
  AdamWOptions options() const;
};

}  // namespace tg
