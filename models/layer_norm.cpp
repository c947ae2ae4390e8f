#include "tapegrad/models/layer_norm.hpp"

#include <fmt/format.h>

#include "tapegrad/ops/normalization.hpp"

namespace tg {

LayerNorm::LayerNorm(const LayerNormOptions& options, Generator&) : options_(options) {
  if (options.elementwise_affine) {
    register_parameter("weight", weight, Tensor::ones({options.normalized_shape}, options.dtype));
    if (options.bias) register_parameter("bias", bias, Tensor::zeros({options.normalized_shape}, options.dtype));
  }
}

// y = (x - mean) / sqrt(var + eps) * w + b, by the fused op (ops/normalization.hpp)
Var LayerNorm::forward(const Var& x) const {
  if (x.dim() < 1 || x.shape().back() != options_.normalized_shape) {
    throw ShapeError(fmt::format("LayerNorm({}): input {} must end in {}", options_.normalized_shape,
                                 shape_str(x.shape()), options_.normalized_shape));
  }
  return layer_norm(x, {options_.normalized_shape}, weight, bias, options_.eps);
}

}  // namespace tg
