#pragma once
/// TransformerDecoderLayer: torch.nn.TransformerDecoderLayer, self-attention,
/// cross-attention to the encoder's output (memory) and a feed-forward network,
/// each in a residual sub-layer (transformer_options.hpp):
///   post-norm: x = norm1(x + sa(x));    x = norm2(x + ca(x, m));    x = norm3(x + ff(x))
///   pre-norm:  x = x + sa(norm1(x));    x = x + ca(norm2(x), m);    x = x + ff(norm3(x))
///   sa(x) = dropout1(self_attn(x, x, x, tgt_mask, tgt_key_padding_mask))
///   ca(x, m) = dropout2(multihead_attn(x, m, m, memory_mask, memory_key_padding_mask))
///   ff(x) = dropout3(linear2(dropout(activation(linear1(x)))))
///
/// Parameters, named as PyTorch's: self_attn.*, multihead_attn.* (in_proj_weight,
/// in_proj_bias, out_proj.weight, out_proj.bias), linear1.*, linear2.*, norm1.*,
/// norm2.*, norm3.*.
///
/// Incremental decoding (one new target position per step, a key/value cache)
/// wires the layer from its public parts, as forward() does, on batch-first rows:
///   AttentionMemory cross = layer.multihead_attn.prepare(memory, memory, memory_key_padding_mask);  // once
///   // per step, x [B, 1, E] the new position:
///   x = residual_sublayer(x, layer.norm1, norm_first, [&](const Var& h) {
///     AttentionMemory rows = layer.self_attn.prepare(h, h);  // this position's K/V, projected once
///     cache = append(cache, rows);                           // concat keys/values along axis 1
///     return layer.self_attention_block(h, cache);           // attends to every cached position
///   });
///   x = residual_sublayer(x, layer.norm2, norm_first, [&](const Var& h) { return layer.cross_attention_block(h,
///   cross); }); x = residual_sublayer(x, layer.norm3, norm_first, [&](const Var& h) { return
///   layer.feed_forward_block(h); });
/// which equals forward() over the whole prefix with the causal tgt_mask
/// (tests/models/test_transformer.cpp checks it).

#include "tapegrad/models/dropout.hpp"
#include "tapegrad/models/linear.hpp"
#include "tapegrad/models/multi_head_attention.hpp"
#include "tapegrad/models/transformer_options.hpp"

namespace tg {

class TransformerDecoderLayer : public Module {
 public:
  explicit TransformerDecoderLayer(const TransformerLayerOptions& options, Generator& gen = default_generator());
  /// tgt [B, T, E], memory [B, S, E] ([T, B, E], [S, B, E] without batch_first)
  /// -> [B, T, E]; reads masks.tgt_*, masks.memory_*.
  Var forward(const Var& tgt, const Var& memory, const TransformerMasks& masks = {}) const;

  /// The sub-blocks, on batch-first x [B, T, E] (see the header comment):
  /// torch's _sa_block, dropout1(self_attn(x, x, x, ...)).
  Var self_attention_block(const Var& x, const AttentionMask& attn_mask = {}, const Mask& key_padding_mask = {},
                           bool is_causal = false) const;
  /// _sa_block against keys/values already projected by self_attn.prepare (a cache
  /// holding every position x may attend, x's own included).
  Var self_attention_block(const Var& x, const AttentionMemory& cached, const AttentionMask& attn_mask = {}) const;
  /// torch's _mha_block, dropout2(multihead_attn(x, memory, memory, ...)), against
  /// memory prepared once by multihead_attn.prepare(memory, memory, memory_key_padding_mask).
  Var cross_attention_block(const Var& x, const AttentionMemory& memory, const AttentionMask& attn_mask = {},
                            bool is_causal = false) const;
  /// torch's _ff_block, dropout3(linear2(dropout(activation(linear1(x))))).
  Var feed_forward_block(const Var& x) const;
  const TransformerLayerOptions& options() const { return options_; }

  MultiHeadAttention self_attn;
  MultiHeadAttention multihead_attn;
  Linear linear1;  ///< [dim_feedforward, d_model]
  Dropout dropout;
  Linear linear2;  ///< [d_model, dim_feedforward]
  LayerNorm norm1;
  LayerNorm norm2;
  LayerNorm norm3;
  Dropout dropout1;
  Dropout dropout2;
  Dropout dropout3;

 private:
  TransformerLayerOptions options_;
};

}  // namespace tg
