#pragma once
/// LayerNorm over the last dimension, as torch.nn.LayerNorm(normalized_shape = [D]):
///   y = (x - mean) / sqrt(var + eps) * weight + bias, var the biased variance.
/// Parameters: weight [D] (ones), bias [D] (zeros). Built from ops.

#include <cstddef>

#include "tapegrad/models/module.hpp"

namespace tg {

struct LayerNormOptions {
  std::size_t normalized_shape = 0;  ///< D, the size of the last dimension
  double eps = 1e-5;                 ///< added to the variance
  bool elementwise_affine = true;    ///< learn weight (and bias)
  bool bias = true;                  ///< with elementwise_affine: learn bias too (torch 2.1's bias)
  DType dtype = DType::f32;          ///< dtype of the parameters
};

class LayerNorm : public Module {
 public:
  explicit LayerNorm(const LayerNormOptions& options, Generator& gen = default_generator());
  /// x: [..., D] -> [..., D]
  Var forward(const Var& x) const;
  const LayerNormOptions& options() const { return options_; }

  Var weight;  ///< [D]
  Var bias;    ///< [D]; undefined without options.bias

 private:
  LayerNormOptions options_;
};

}  // namespace tg
