#pragma once
/// TransformerEncoderLayer: torch.nn.TransformerEncoderLayer, self-attention then
/// a feed-forward network, each in a residual sub-layer (transformer_options.hpp):
///   post-norm: x = norm1(x + sa(x));        x = norm2(x + ff(x))
///   pre-norm:  x = x + sa(norm1(x));        x = x + ff(norm2(x))      (norm_first)
///   sa(x) = dropout1(self_attn(x, x, x, src_mask, src_key_padding_mask))
///   ff(x) = dropout2(linear2(dropout(activation(linear1(x)))))
///
/// Parameters, named as PyTorch's: self_attn.{in_proj_weight [3E, E], in_proj_bias,
/// out_proj.weight, out_proj.bias}, linear1.{weight [F, E], bias}, linear2.{weight
/// [E, F], bias}, norm1.{weight, bias}, norm2.{weight, bias}. Initialised as torch's
/// layer (MultiheadAttention's, Linear's and LayerNorm's own initialisation).

#include "tapegrad/models/dropout.hpp"
#include "tapegrad/models/linear.hpp"
#include "tapegrad/models/multi_head_attention.hpp"
#include "tapegrad/models/transformer_options.hpp"

namespace tg {

class TransformerEncoderLayer : public Module {
 public:
  explicit TransformerEncoderLayer(const TransformerLayerOptions& options, Generator& gen = default_generator());
  /// src [B, S, E] ([S, B, E] without batch_first) -> [B, S, E]; reads masks.src_mask,
  /// masks.src_key_padding_mask and masks.src_is_causal.
  Var forward(const Var& src, const TransformerMasks& masks = {}) const;

  /// The sub-blocks, on batch-first x [B, S, E], for callers that wire the layer
  /// themselves with residual_sublayer(x, norm1, options().norm_first, block):
  /// torch's _sa_block, dropout1(self_attn(x, x, x, ...)).
  Var self_attention_block(const Var& x, const AttentionMask& attn_mask = {}, const Mask& key_padding_mask = {},
                           bool is_causal = false) const;
  /// torch's _ff_block, dropout2(linear2(dropout(activation(linear1(x))))).
  Var feed_forward_block(const Var& x) const;
  const TransformerLayerOptions& options() const { return options_; }

  MultiHeadAttention self_attn;
  Linear linear1;  ///< [dim_feedforward, d_model]
  Dropout dropout;
  Linear linear2;  ///< [d_model, dim_feedforward]
  LayerNorm norm1;
  LayerNorm norm2;
  Dropout dropout1;
  Dropout dropout2;

 private:
  TransformerLayerOptions options_;
};

}  // namespace tg
