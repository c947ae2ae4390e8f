#include "tapegrad/models/layer_norm.hpp"

#include <fmt/format.h>

#include "tapegrad/ops/elementwise.hpp"
#include "tapegrad/ops/reduce.hpp"

namespace tg {

LayerNorm::LayerNorm(const LayerNormOptions& options, Generator&) : options_(options) {
  if (options.elementwise_affine) {
    register_parameter("weight", weight, Tensor::ones({options.normalized_shape}, options.dtype));
    if (options.bias) register_parameter("bias", bias, Tensor::zeros({options.normalized_shape}, options.dtype));
  }
}

// y = (x - mu) / sqrt(mean((x - mu)^2) + eps) * w + b
Var LayerNorm::forward(const Var& x) const {
  if (x.dim() < 1 || x.shape().back() != options_.normalized_shape) {
    throw ShapeError(fmt::format("LayerNorm({}): input {} must end in {}", options_.normalized_shape,
                                 shape_str(x.shape()), options_.normalized_shape));
  }
  Var centered = x - mean(x, -1, true);
  Var y = centered / sqrt(mean(square(centered), -1, true) + options_.eps);
  if (!options_.elementwise_affine) return y;
  return bias.defined() ? y * weight + bias : y * weight;
}

}  // namespace tg
