#pragma once
/// Activation functions.

#include "tapegrad/autodiff/var.hpp"

namespace tg {

Var tanh(const Var& x);
Var sigmoid(const Var& x);
/// max(x, 0); the gradient at 0 is 0.
Var relu(const Var& x);

/// How gelu computes the Gaussian CDF, as torch.nn.functional.gelu's `approximate`.
enum class GeluApproximation {
  none,  ///< exact: x Phi(x) with Phi from erf (torch's default)
  tanh,  ///< x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3))) / 2
};
/// The Gaussian error linear unit x Phi(x) (Hendrycks & Gimpel), as
/// torch.nn.functional.gelu: gelu(0) = 0, NaN propagates.
Var gelu(const Var& x, GeluApproximation approximate = GeluApproximation::none);

}  // namespace tg
