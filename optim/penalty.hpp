#pragma once
/// Penalties added to a loss. An L2 penalty is not here: it is the optimizers'
/// weight_decay (for Sgd, Adam, Rmsprop, Adagrad and Adadelta, weight_decay * p
/// added to the gradient is the gradient of weight_decay / 2 * sum(p^2)).

#include <vector>

#include "tapegrad/autodiff/var.hpp"

namespace tg {

/// lambda * sum over params of sum(|p|): a scalar Var built from abs, sum, add
/// and mul, so backward() adds lambda * sign(p) (0 at 0) to each gradient.
/// Every parameter must have the first one's dtype. Throws tg::Error for an
/// empty list, an undefined Var, or lambda < 0 (or NaN).
Var l1_penalty(const std::vector<Var>& params, double lambda);

}  // namespace tg
