#pragma once
/// Adadelta, exactly torch.optim.Adadelta. Per parameter, at each step with a gradient:
///
///   g = grad + weight_decay * p
///   v = rho * v + (1 - rho) * g * g           (square_avg, starts at 0)
///   d = sqrt(u + eps) / sqrt(v + eps) * g     (u: acc_delta, starts at 0)
///   u = rho * u + (1 - rho) * d * d
///   p = p - lr * d

#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

#include "tapegrad/optim/optimizer.hpp"

namespace tg {

struct AdadeltaOptions {
  /// Scales the step, >= 0; 1 is Adadelta as published.
  double lr = 1.0;
  /// Decay of both running means, in [0, 1].
  double rho = 0.9;
  /// Added inside both square roots, >= 0.
  double eps = 1e-6;
  /// L2 penalty, >= 0: weight_decay * p is added to the gradient.
  double weight_decay = 0;
};

/// Per-parameter state of Adadelta, allocated on the parameter's first step with a gradient.
struct AdadeltaState {
  /// Steps this parameter has taken (PyTorch keeps it; the update does not use it).
  std::int64_t step = 0;
  /// Running mean of squared gradients (v).
  Tensor square_avg;
  /// Running mean of squared updates (u).
  Tensor acc_delta;
};

class Adadelta : public TypedOptimizer<AdadeltaOptions, AdadeltaState> {
 public:
  /// Throws tg::Error naming the option for lr, eps or weight_decay below 0
  /// (or NaN), or rho outside [0, 1]; and for parameters as Optimizer's
  /// constructor does.
  Adadelta(std::vector<Var> params, const AdadeltaOptions& options = {})
      : Adadelta(one_group(std::move(params)), options) {}
  /// Parameter groups with their own lr and weight_decay (unset: the options').
  Adadelta(std::vector<ParamGroup> groups, const AdadeltaOptions& options = {});

  void step() override;

 protected:
  std::vector<StateEntry> state_entries(std::size_t i) override;
};

}  // namespace tg
