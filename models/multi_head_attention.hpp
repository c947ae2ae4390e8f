#pragma once
/// MultiHeadAttention: torch.nn.MultiheadAttention(E, heads, bias, kdim, vdim,
/// batch_first=True) for one query step (target length 1), with
/// key_padding_mask and the weights averaged over heads
/// (average_attn_weights=True). With d = E / heads and head j's slice [j d, (j+1) d):
///   Q = W_q q + b_q,  K_i = W_k k_i + b_k,  V_i = W_v v_i + b_v   (K, V in prepare)
///   a_j = softmax_i(Q_j . K_ij / sqrt(d)) over real positions
///   context = W_o [sum_i a_1i V_i1; ...; sum_i a_hi V_ih] + b_o,   weights = mean_j a_j
///
/// Parameters, named as PyTorch's: in_proj_weight [3E, E] (rows W_q, W_k, W_v)
/// when key_size = value_size = E, else q_proj_weight [E, E], k_proj_weight
/// [E, Hk], v_proj_weight [E, Hv]; in_proj_bias [3E] (b_q, b_k, b_v);
/// out_proj.weight [E, E], out_proj.bias [E]. The biases exist only with
/// options.bias. PyTorch's initialisation: xavier_uniform for the projection
/// weights, zeros for both biases, out_proj.weight as torch.nn.Linear.
/// No dropout, add_bias_kv or add_zero_attn.

#include "tapegrad/models/attention.hpp"

namespace tg {

class MultiHeadAttention : public Attention {
 public:
  /// options.query_size is E, divisible by options.num_heads.
  explicit MultiHeadAttention(const AttentionOptions& options, Generator& gen = default_generator());
  /// keys [B, S, Hk], values [B, S, Hv] -> memory.keys K and memory.values V,
  /// each split into heads as [B * heads, S, d]; the query's W_q and b_q.
  AttentionMemory prepare(const Var& keys, const Var& values, const Mask& padding = {}) const override;
  /// query [B, E] -> context [B, E] (after out_proj), weights [B, S] (mean over heads).
  AttentionResult attend(const AttentionMemory& memory, const Var& query) const override;
  std::size_t context_size() const override { return options_.query_size; }
  /// Whether the three projections share in_proj_weight (key_size = value_size = E).
  bool packed_in_proj() const {
    return options_.key_size == options_.query_size && value_size() == options_.query_size;
  }

  Var in_proj_weight;  ///< [3E, E] when packed_in_proj(), else undefined
  Var q_proj_weight;   ///< [E, E] unless packed_in_proj()
  Var k_proj_weight;   ///< [E, Hk] unless packed_in_proj()
  Var v_proj_weight;   ///< [E, Hv] unless packed_in_proj()
  Var in_proj_bias;    ///< [3E] with options.bias
  Linear out_proj;     ///< [E, E] weight, [E] bias with options.bias

 private:
  /// W_q, W_k or W_v (which = 0, 1, 2): a slice of in_proj_weight, or the separate weight.
  Var projection_weight(std::size_t which) const;
  /// b_q, b_k or b_v: a slice of in_proj_bias; undefined without bias.
  Var projection_bias(std::size_t which) const;
  /// [B, S, E] -> [B * heads, S, d]: each head's slice as its own batch entry.
  Var split_heads(const Var& x) const;
};

}  // namespace tg
