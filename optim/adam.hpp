#pragma once
/// Adam, exactly torch.optim.Adam (L2 weight decay added to the gradient, not
/// decoupled as in AdamW). Per parameter, at its t-th step with a gradient:
///
///   g = grad + weight_decay * p
///   m = beta1 * m + (1 - beta1) * g           (exp_avg, starts at 0)
///   v = beta2 * v + (1 - beta2) * g * g       (exp_avg_sq, starts at 0)
///   vmax = max(vmax, v)                       (amsgrad only; then v below means vmax)
///   p = p - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)

#include <cstddef>
#include <cstdint>
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
  /// L2 penalty, >= 0: weight_decay * p is added to the gradient.
  double weight_decay = 0;
  /// Normalise by the running maximum of exp_avg_sq (AMSGrad).
  bool amsgrad = false;
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

class Adam : public Optimizer {
 public:
  /// Throws tg::Error naming the option for lr, eps or weight_decay below 0
  /// (or NaN), or a beta outside [0, 1); and for parameters as Optimizer's
  /// constructor does.
  Adam(std::vector<Var> params, const AdamOptions& options = {});
  /// Parameter groups with their own lr and weight_decay (unset: the options').
  Adam(std::vector<ParamGroup> groups, const AdamOptions& options = {});

  void step() override;

  /// The options, with group 0's lr (as set_lr() left it) and weight_decay.
  AdamOptions options() const;
  /// State of parameter i (the order of parameters()); IndexError if out of range.
  const AdamState& state(std::size_t i) const;
  /// State of `param`; IndexError if it is not one of parameters().
  const AdamState& state(const Var& param) const;

 protected:
  std::vector<StateEntry> state_entries(std::size_t i) override;

 private:
  void check_options() const;

  AdamOptions options_;
  std::vector<AdamState> state_;
};

}  // namespace tg
