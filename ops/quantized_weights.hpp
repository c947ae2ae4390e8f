#pragma once
/// Int8 copies of weights for inference: dynamic quantization, as PyTorch's
/// torch.ao.quantization.quantize_dynamic (docs/compression.md).
///
/// A QuantizedWeights holds an int8 copy (kernels/int8_gemm.hpp) of some leaf
/// weights w [out, in]. While it lives, the products x w^T with those weights —
/// linear, linear_pair, addmm(c, a, w, false, true) and matmul(a, w, false, true)
/// — run in int8 wherever nothing is recorded (under NoGradGuard: decoding and
/// evaluation), with the activations quantized at each product. Where gradients
/// are recorded they multiply by the float value, which quantize_dynamic
/// (models/quantize.hpp) sets to the dequantized copy, so that fine-tuning
/// starts from the weights the int8 products use. A weight changed after it was
/// quantized (by an optimizer) must be quantized again.
///
///   NoGradGuard no_grad;
///   auto int8 = quantize_dynamic(model);   // or load_int8_weights(model, path)
///   model.forward(...);                    // Linear, LSTM, GRU, attention in int8
///
/// Copies are found by the weight's node, from any thread (decoding workers
/// included), so a model's replicas sharing its parameters use them too.

#include <cstddef>
#include <memory>
#include <vector>

#include "tapegrad/autodiff/var.hpp"
#include "tapegrad/kernels/int8_gemm.hpp"

namespace tg {

class QuantizedWeights {
 public:
  explicit QuantizedWeights(ActivationQuantization activations = ActivationQuantization::per_row);
  /// Stops the int8 products of every weight added here.
  ~QuantizedWeights();
  QuantizedWeights(const QuantizedWeights&) = delete;
  QuantizedWeights& operator=(const QuantizedWeights&) = delete;

  /// Makes `q` the int8 copy of `weight`, a float32 leaf [q.rows, q.cols]. Throws
  /// Error naming the weight (by its name) when it is not one, or when it already
  /// has a copy (here or in another QuantizedWeights alive).
  void add(const Var& weight, Int8Matrix q);
  /// w's copy, or null.
  const Int8Matrix* find(const Var& weight) const;
  std::size_t size() const { return entries_.size(); }
  ActivationQuantization activations() const { return activations_; }

 private:
  struct Entry {
    Var weight;
    std::unique_ptr<const Int8Matrix> copy;
  };
  ActivationQuantization activations_;
  std::vector<Entry> entries_;
};

/// y = x w^T, or y += x w^T, for float x [m, k] and a leaf w [n, k], through w's
/// int8 copy: when one is registered and nothing is recorded on this thread.
/// Returns false when it computed nothing: the caller multiplies in float.
bool quantized_times_weight_t(std::size_t m, std::size_t n, std::size_t k, const float* x, const Var& w,
                              bool accumulate, float* y);

}  // namespace tg
