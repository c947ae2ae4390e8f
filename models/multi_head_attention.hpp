#pragma once
/// MultiHeadAttention: torch.nn.MultiheadAttention(E, heads, dropout, bias, kdim,
/// vdim, batch_first=True). With d = E / heads and head j's slice [j d, (j+1) d):
///   Q = W_q q + b_q,  K_i = W_k k_i + b_k,  V_i = W_v v_i + b_v   (K, V in prepare)
///   a_j = dropout(softmax_i(Q_j . K_ij / sqrt(d) + additive mask)) over allowed positions
///   context = W_o [sum_i a_1i V_i1; ...; sum_i a_hi V_ih] + b_o,   weights = mean_j a_j or a
///
/// Two call shapes:
/// - whole sequences, forward(query [B, L, E], key [B, S, Hk], value [B, S, Hv],
///   options): torch's forward with attn_mask, key_padding_mask, need_weights,
///   average_attn_weights and is_causal (SequenceAttentionOptions);
/// - one query step, the Attention interface (prepare, then attend with query [B, E]),
///   which the recurrent decoder uses: the same numbers as forward with L = 1.
///
/// Incremental decoding (a key/value cache) uses the two halves of forward:
///   AttentionMemory rows = prepare(key_rows, value_rows);  // project and split heads once
///   // a cache appends rows.keys / rows.values ([B * heads, S_new, d]) along axis 1
///   AttentionResult r = attend_sequence(memory, query, {});  // attend to projected K/V
/// forward(q, k, v, o) is attend_sequence(prepare(k, v, o.key_padding_mask), q, o).
///
/// Masks, as torch: true or -inf means "may not attend". A query row whose keys
/// are all masked gets weights all 0 and context out_proj.bias (zero attention
/// output), with finite gradients; PyTorch gives NaN there.
///
/// Parameters, named as PyTorch's: in_proj_weight [3E, E] (rows W_q, W_k, W_v)
/// when key_size = value_size = E, else q_proj_weight [E, E], k_proj_weight
/// [E, Hk], v_proj_weight [E, Hv]; in_proj_bias [3E] (b_q, b_k, b_v);
/// out_proj.weight [E, E], out_proj.bias [E]. The biases exist only with
/// options.bias. PyTorch's initialisation: xavier_uniform for the projection
/// weights, zeros for both biases, out_proj.weight as torch.nn.Linear.
/// No add_bias_kv or add_zero_attn.

#include "tapegrad/models/attention.hpp"
#include "tapegrad/ops/attention.hpp"

namespace tg {

/// The keyword arguments of torch.nn.MultiheadAttention.forward (batch_first).
struct SequenceAttentionOptions {
  AttentionMask attn_mask{};         ///< [L, S] or [B * heads, L, S], boolean or additive float; empty = none
  Mask key_padding_mask{};           ///< [B, S], true = padded; empty = none (forward only: see attend_sequence)
  bool need_weights = true;          ///< return the attention weights
  bool average_attn_weights = true;  ///< weights [B, L, S] averaged over heads, else [B, heads, L, S]
  /// Block key j for query i when j > i (torch's causal mask, aligned at the first
  /// position), on top of attn_mask; torch takes it as a hint that attn_mask is that mask.
  bool is_causal = false;
};

class MultiHeadAttention : public Attention {
 public:
  /// options.query_size is E, divisible by options.num_heads; options.dropout in [0, 1].
  explicit MultiHeadAttention(const AttentionOptions& options, Generator& gen = default_generator());
  /// query [B, L, E], key [B, S, Hk], value [B, S, Hv] -> context [B, L, E] (after
  /// out_proj), weights [B, L, S] or [B, heads, L, S] (see options). Throws
  /// ShapeError/DTypeError naming the argument and the shapes. (It hides
  /// Attention::forward, the one-step call, which stays reachable through Attention&.)
  AttentionResult forward(const Var& query, const Var& key, const Var& value,
                          const SequenceAttentionOptions& options = {}) const;
  /// keys [B, S, Hk], values [B, S, Hv] -> memory.keys K and memory.values V,
  /// each split into heads as [B * heads, S, d]; the query's W_q and b_q.
  AttentionMemory prepare(const Var& keys, const Var& values, const Mask& padding = {}) const override;
  /// query [B, E] -> context [B, E] (after out_proj), weights [B, S] (mean over heads).
  AttentionResult attend(const AttentionMemory& memory, const Var& query) const override;
  /// query [B, L, E] against prepared (or cached, concatenated) memory: forward's
  /// second half. The key padding is memory's (prepare's `padding`), so
  /// options.key_padding_mask must be empty; attn_mask is [L, S] or [B * heads, L, S]
  /// with S the memory's length.
  AttentionResult attend_sequence(const AttentionMemory& memory, const Var& query,
                                  const SequenceAttentionOptions& options = {}) const;
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
  /// [B * heads, L, d] -> [B, L, E]: the heads side by side again.
  Var merge_heads(const Var& x, std::size_t batch) const;
  /// attend_sequence without the check that options carries no key padding.
  AttentionResult attend_rows(const AttentionMemory& memory, const Var& query,
                              const SequenceAttentionOptions& options) const;
  /// Throws ShapeError unless attn_mask is [L, S] or [B * heads, L, S] (or empty).
  void check_attn_mask(const AttentionMask& attn_mask, std::size_t batch, std::size_t l, std::size_t s) const;
  /// Throws unless query is [B, L, E] with L >= 1 and options' attn_mask fits [L, S].
  void check_sequence_query(const Var& query, std::size_t b, std::size_t s,
                            const SequenceAttentionOptions& options) const;
  /// What attend_heads applies besides the products: attn_mask, the key padding as the heads'
  /// scores see it ([B * heads, 1, S]), is_causal, the scale, and dropout while training.
  HeadAttentionOptions fused_options(const SequenceAttentionOptions& options, Mask score_padding, std::size_t l,
                                     std::size_t s, DType dtype) const;
};

}  // namespace tg
