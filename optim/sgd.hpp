#pragma once
/// Stochastic gradient descent with momentum, exactly torch.optim.SGD:
///
///   g = grad + weight_decay * p
///   b = g                                     (first step with a gradient)
///   b = momentum * b + (1 - dampening) * g    (later steps)
///   g = nesterov ? g + momentum * b : b       (when momentum != 0)
///   p = p - lr * g

#include <cstddef>
#include <utility>
#include <vector>

#include "tapegrad/optim/optimizer.hpp"

namespace tg {

struct SgdOptions {
  /// Learning rate, >= 0.
  double lr = 1e-2;
  /// Momentum factor, >= 0; 0 keeps no state.
  double momentum = 0;
  /// Fraction of the gradient held back when it enters the momentum buffer (not on the first step).
  double dampening = 0;
  /// L2 penalty, >= 0: weight_decay * p is added to the gradient.
  double weight_decay = 0;
  /// Nesterov momentum; needs momentum > 0 and dampening == 0.
  bool nesterov = false;
};

/// Per-parameter state of Sgd.
struct SgdState {
  /// The velocity; undefined while momentum is 0 or before the parameter's first gradient.
  Tensor momentum_buffer;
};

class Sgd : public TypedOptimizer<SgdOptions, SgdState> {
 public:
  /// Throws tg::Error naming the option for lr, momentum or weight_decay
  /// below 0 (or NaN), NaN dampening, or nesterov without momentum > 0 and
  /// dampening == 0; and for parameters as Optimizer's constructor does.
  Sgd(std::vector<Var> params, const SgdOptions& options = {}) : Sgd(one_group(std::move(params)), options) {}
  /// Parameter groups with their own lr and weight_decay (unset: the options').
  Sgd(std::vector<ParamGroup> groups, const SgdOptions& options = {});

  void step() override;

 protected:
  std::vector<StateEntry> state_entries(std::size_t i) override;
};

}  // namespace tg
