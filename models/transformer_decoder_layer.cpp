#include "tapegrad/models/transformer_decoder_layer.hpp"

#include <fmt/format.h>

namespace tg {
TransformerDecoderLayer::TransformerDecoderLayer(const TransformerLayerOptions& options, Generator& gen)
    : self_attn((check_transformer_layer_options(options, "tg::TransformerDecoderLayer"),
                 transformer_attention_options(options)),
                gen),
      multihead_attn(transformer_attention_options(options), gen),
      linear1({.in_features = options.d_model,
               .out_features = options.dim_feedforward,
               .bias = options.bias,
               .dtype = options.dtype},
              gen),
      dropout({.p = options.dropout}),
      linear2({.in_features = options.dim_feedforward,
               .out_features = options.d_model,
               .bias = options.bias,
               .dtype = options.dtype},
              gen),
      norm1(transformer_norm_options(options)),
      norm2(transformer_norm_options(options)),
      norm3(transformer_norm_options(options)),
      dropout1({.p = options.dropout}),
      dropout2({.p = options.dropout}),
      dropout3({.p = options.dropout}),
      options_(options) {
  // torch's registration order, which is its named_parameters() order.
  register_module("self_attn", self_attn);
  register_module("multihead_attn", multihead_attn);
  register_module("linear1", linear1);
  register_module("dropout", dropout);
  register_module("linear2", linear2);
  register_module("norm1", norm1);
  register_module("norm2", norm2);
  register_module("norm3", norm3);
  register_module("dropout1", dropout1);
  register_module("dropout2", dropout2);
  register_module("dropout3", dropout3);
}

Var TransformerDecoderLayer::forward(const Var& tgt, const Var& memory, const TransformerMasks& masks) const {
  check_transformer_input(tgt, options_.d_model, dtype(), type_name(), "tgt");
  check_transformer_input(memory, options_.d_model, dtype(), type_name(), "memory");
  Var x = transpose_unless_batch_first(tgt, options_.batch_first);
  Var m = transpose_unless_batch_first(memory, options_.batch_first);
  if (m.shape()[0] != x.shape()[0]) {
    throw ShapeError(fmt::format("{}: tgt {} and memory {} differ in batch size", type_name(), shape_str(tgt.shape()),
                                 shape_str(memory.shape())));
  }
  const AttentionMemory cross = multihead_attn.prepare(m, m, masks.memory_key_padding_mask);
  x = residual_sublayer(x, norm1, options_.norm_first, [&](const Var& h) {
    return self_attention_block(h, masks.tgt_mask, masks.tgt_key_padding_mask, masks.tgt_is_causal);
  });
  x = residual_sublayer(x, norm2, options_.norm_first, [&](const Var& h) {
    return cross_attention_block(h, cross, masks.memory_mask, masks.memory_is_causal);
  });
  x = residual_sublayer(x, norm3, options_.norm_first, [&](const Var& h) { return feed_forward_block(h); });
  return transpose_unless_batch_first(x, options_.batch_first);
}

Var TransformerDecoderLayer::self_attention_block(const Var& x, const AttentionMask& attn_mask,
                                                  const Mask& key_padding_mask, bool is_causal) const {
  SequenceAttentionOptions call{
      .attn_mask = attn_mask, .key_padding_mask = key_padding_mask, .need_weights = false, .is_causal = is_causal};
  return dropout1.forward(self_attn.forward(x, x, x, call).context);
}

Var TransformerDecoderLayer::self_attention_block(const Var& x, const AttentionMemory& cached,
                                                  const AttentionMask& attn_mask) const {
  SequenceAttentionOptions call{.attn_mask = attn_mask, .need_weights = false};
  return dropout1.forward(self_attn.attend_sequence(cached, x, call).context);
}

Var TransformerDecoderLayer::cross_attention_block(const Var& x, const AttentionMemory& memory,
                                                   const AttentionMask& attn_mask, bool is_causal) const {
  SequenceAttentionOptions call{.attn_mask = attn_mask, .need_weights = false, .is_causal = is_causal};
  return dropout2.forward(multihead_attn.attend_sequence(memory, x, call).context);
}

Var TransformerDecoderLayer::feed_forward_block(const Var& x) const {
  return dropout3.forward(linear2.forward(dropout.forward(activate(linear1.forward(x), options_.activation))));
}

}  // namespace tg
