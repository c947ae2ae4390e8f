#pragma once
/// DotAttention: Luong's dot score, plain or scaled (the kind picks which):
///   dot          e_i = q . k_i
///   scaled_dot   e_i = q . k_i / sqrt(Hk)
///   weights = softmax(e) over real positions; context = sum_i weights_i values_i
///
/// No parameters; needs query_size == key_size. prepare() only checks and
/// keeps keys and values, so attend() costs two batched products per step.

#include "tapegrad/models/attention.hpp"

namespace tg {

class DotAttention : public Attention {
 public:
  /// options.kind: dot or scaled_dot.
  explicit DotAttention(const AttentionOptions& options, Generator& gen = default_generator());
  /// keys [B, S, Hk], values [B, S, Hv] -> memory with both as given.
  AttentionMemory prepare(const Var& keys, const Var& values, const Mask& padding = {}) const override;
  /// query [B, Hq] -> context [B, Hv], weights [B, S].
  AttentionResult attend(const AttentionMemory& memory, const Var& query) const override;
  std::size_t context_size() const override { return value_size(); }
  /// Whether scores are divided by sqrt(Hk) (kind scaled_dot).
  bool scaled() const { return options_.kind == AttentionKind::scaled_dot; }
};

}  // namespace tg
