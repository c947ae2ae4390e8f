#pragma once
/// Post-training dynamic quantization of a model, as PyTorch's
/// torch.ao.quantization.quantize_dynamic: the weights of its products in int8,
/// activations quantized at run time (ops/quantized_weights.hpp,
/// kernels/int8_gemm.hpp, docs/compression.md).
///
///   tg::NoGradGuard no_grad;
///   auto int8 = tg::quantize_dynamic(model);  // keep it alive while decoding

#include <memory>
#include <vector>

#include "tapegrad/models/module.hpp"
#include "tapegrad/ops/quantized_weights.hpp"

namespace tg {

struct QuantizeOptions {
  /// One scale per output row (channel) of each weight; false: one per weight.
  bool per_channel = true;
  /// Also the embedding tables, one scale per row (a tied output layer's
  /// channels): smaller files; lookups read the dequantized floats.
  bool embeddings = false;
  /// Activations' scale and zero point per row, or per product as PyTorch.
  ActivationQuantization activations = ActivationQuantization::per_row;
};

/// The parameters quantize_dynamic quantizes, by full name: every float32 matrix
/// that a product multiplies (Linear, the recurrent layers' and cells' weight_ih
/// and weight_hh, attention projections, bridges), and with `embeddings` the
/// Embedding tables; never positional tables or float64 parameters.
std::vector<NamedVar> quantizable_weights(const Module& m, bool embeddings);

/// Quantizes those weights of `m`: each one's value becomes its int8 copy's
/// float value, and the returned QuantizedWeights holds the copies (the int8
/// products last as long as it does).
std::unique_ptr<QuantizedWeights> quantize_dynamic(Module& m, const QuantizeOptions& options = {});

}  // namespace tg
