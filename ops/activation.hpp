#pragma once
/// Activation functions.

#include "tapegrad/autodiff/var.hpp"

namespace tg {

Var tanh(const Var& x);
Var sigmoid(const Var& x);
/// max(x, 0); the gradient at 0 is 0.
Var relu(const Var& x);

}  // namespace tg
