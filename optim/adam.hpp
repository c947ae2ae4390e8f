#pragma once
/// Adam, exactly torch.optim.Adam: its weight decay is an L2 penalty added to
/// the gradient unless decoupled_weight_decay is set, as in recent PyTorch 2.x,
/// where torch.optim.AdamW is Adam with it set; so is AdamW here (adamw.hpp).
/// Per parameter, at its t-th step with a gradient:
///
///   g = grad + weight_decay * p               (L2 decay, the default)
///   p = p * (1 - lr * weight_decay)           (decoupled decay instead: it never enters m or v)
///   m = beta1 * m + (1 - beta1) * g           (exp_avg, starts at 0)
///   v = beta2 * v + (1 - beta2) * g * g       (exp_avg_sq, starts at 0)
///   vmax = max(vmax, v)                       (amsgrad only; then v below means vmax)
///   p = p - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)

#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

#include "tapegrad/optim/optimizer.hpp"

namespace tg {

struct AdamOptions {
  /// Learning rate, >= 0.
  double lr = 1e-3;
  /// Decay of the running mean of gradients, in [0, 1).
  double beta1 = 0.9;
  /// Decay of the running mean of squared gradients, in [0, 1).
  double beta2 = 0.999;
  /// Added to the denominator for numerical stability, >= 0.
  double eps = 1e-8;
  /// Weight decay, >= 0: an L2 penalty (weight_decay * p added to the
  /// gradient), or with decoupled_weight_decay a shrink of p by lr * weight_decay.
  double weight_decay = 0;
  /// Normalise by the running maximum of exp_avg_sq (AMSGrad).
  bool amsgrad = false;
  /// Decay p directly, outside the moments (AdamW, Loshchilov & Hutter), instead of through the gradient.
  bool decoupled_weight_decay = false;
};

/// Per-parameter state of Adam; the tensors are allocated on the parameter's
/// first step with a gradient.
struct AdamState {
  /// Steps this parameter has taken (steps where its gradient was undefined do not count).
  std::int64_t step = 0;
  /// Running mean of gradients (m).
  Tensor exp_avg;
  /// Running mean of squared gradients (v).
  Tensor exp_avg_sq;
  /// Running maximum of exp_avg_sq; defined only with amsgrad.
  Tensor max_exp_avg_sq;
};

class Adam : public TypedOptimizer<AdamOptions, AdamState> {
 public:
  /// Throws tg::Error naming the option for lr, eps or weight_decay below 0
  /// (or NaN), or a beta outside [0, 1); and for parameters as Optimizer's
  /// constructor does.
  Adam(std::vector<Var> params, const AdamOptions& options = {}) : Adam(one_group(std::move(params)), options) {}
  /// Parameter groups with their own lr and weight_decay (unset: the options').
  Adam(std::vector<ParamGroup> groups, const AdamOptions& options = {}) : Adam("Adam", std::move(groups), options) {}

  void step() override;

 protected:
  /// For AdamW: the same, with errors starting with `name`.
  Adam(const char* name, std::vector<ParamGroup> groups, const AdamOptions& options);

  std::vector<StateEntry> state_entries(std::size_t i) override;
};

}  // namespace tg
