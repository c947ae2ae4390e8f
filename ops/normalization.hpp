#pragma once
/// layer_norm: one primitive with its own backward, as torch.nn.functional.layer_norm.
///
/// Composed of mean, sub, square, sqrt and div, a float32 LayerNorm rounds at
/// every step of its forward and of the backward through them; the fused op
/// computes each row's mean and variance in double (two passes: no cancellation
/// in E[x^2] - E[x]^2) and its backward from the closed form, with the row sums
/// and the weight's sums over rows in double, rounding each result once.

#include "tapegrad/autodiff/var.hpp"

namespace tg {

/// Normalises x over its trailing dims `normalized_shape` (x: [..., *normalized_shape]):
///   y = (x - mean) / sqrt(var + eps) * weight + bias,
/// mean and the biased var per row of prod(normalized_shape) elements. weight and bias
/// ([*normalized_shape], x's dtype) are each optional: an undefined Var leaves it out.
/// A constant row gives bias (var 0); a NaN in a row makes that row NaN.
Var layer_norm(const Var& x, const Shape& normalized_shape, const Var& weight = Var(), const Var& bias = Var(),
               double eps = 1e-5);

}  // namespace tg
