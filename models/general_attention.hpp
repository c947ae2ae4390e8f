#pragma once
/// GeneralAttention: Luong's "general" score,
///   e_i = q . (W k_i)          (W k_i for every key in prepare: one GEMM)
///   weights = softmax(e) over real positions; context = sum_i weights_i values_i
///
/// Parameter: weight [Hq, Hk] (W), starting U(-1/sqrt(Hk), 1/sqrt(Hk)) as a
/// torch.nn.Linear(Hk, Hq, bias=False) would. Projecting the keys once per
/// batch instead of the query once per step (OpenNMT's q W, the same scores)
/// leaves attend() only the two batched products of dot attention.

#include "tapegrad/models/attention.hpp"

namespace tg {

class GeneralAttention : public Attention {
 public:
  explicit GeneralAttention(const AttentionOptions& options, Generator& gen = default_generator());
  /// keys [B, S, Hk], values [B, S, Hv] -> memory.keys = keys W^T [B, S, Hq], memory.values = values.
  AttentionMemory prepare(const Var& keys, const Var& values, const Mask& padding = {}) const override;
  /// query [B, Hq] -> context [B, Hv], weights [B, S].
  AttentionResult attend(const AttentionMemory& memory, const Var& query) const override;
  std::size_t context_size() const override { return value_size(); }

  Var weight;  ///< [Hq, Hk]
};

}  // namespace tg
