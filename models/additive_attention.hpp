#pragma once
/// AdditiveAttention: Bahdanau's attention, the kind of the reference model
/// (bench/SPEC.md):
///   K_i = W_k k_i                      (prepare: one GEMM over all B*S keys)
///   e_i = v . tanh(K_i + W_q q + b_q)  (attend)
///   weights = softmax(e) over real positions; context = sum_i weights_i values_i
///
/// Parameters (A = attention_size, or key_size when 0): v [A],
/// query_proj.weight [A, Hq], query_proj.bias [A], key_proj.weight [A, Hk]
/// (no bias: b_q already shifts every position alike). All start
/// U(-1/sqrt(fan_in), 1/sqrt(fan_in)) as torch.nn.Linear, v with fan_in A.

#include "tapegrad/models/attention.hpp"

namespace tg {

class AdditiveAttention : public Attention {
 public:
  explicit AdditiveAttention(const AttentionOptions& options, Generator& gen = default_generator());
  /// keys [B, S, Hk], values [B, S, Hv] -> memory.keys = K [B, S, A], memory.values = values.
  AttentionMemory prepare(const Var& keys, const Var& values, const Mask& padding = {}) const override;
  /// query [B, Hq] -> context [B, Hv], weights [B, S].
  AttentionResult attend(const AttentionMemory& memory, const Var& query) const override;
  std::size_t context_size() const override { return value_size(); }
  /// A: the size of the tanh layer.
  std::size_t attention_size() const { return query_proj.options().out_features; }

  Var v;              ///< [A]
  Linear query_proj;  ///< W_q [A, Hq], b_q [A]
  Linear key_proj;    ///< W_k [A, Hk], no bias
};

}  // namespace tg
