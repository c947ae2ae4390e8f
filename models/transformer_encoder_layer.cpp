#include "tapegrad/models/transformer_encoder_layer.hpp"

namespace tg {

TransformerEncoderLayer::TransformerEncoderLayer(const TransformerLayerOptions& options, Generator& gen)
    : self_attn((check_transformer_layer_options(options, "tg::TransformerEncoderLayer"),
                 transformer_attention_options(options)),
                gen),
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
      dropout1({.p = options.dropout}),
      dropout2({.p = options.dropout}),
      options_(options) {
  // torch's registration order, which is its named_parameters() order.
  register_module("self_attn", self_attn);
  register_module("linear1", linear1);
  register_module("dropout", dropout);
  register_module("linear2", linear2);
  register_module("norm1", norm1);
  register_module("norm2", norm2);
  register_module("dropout1", dropout1);
  register_module("dropout2", dropout2);
}

Var TransformerEncoderLayer::forward(const Var& src, const TransformerMasks& masks) const {
  check_transformer_input(src, options_.d_model, dtype(), type_name(), "src");
  Var x = transpose_unless_batch_first(src, options_.batch_first);
  x = residual_sublayer(x, norm1, options_.norm_first, [&](const Var& h) {
    return self_attention_block(h, masks.src_mask, masks.src_key_padding_mask, masks.src_is_causal);
  });
  x = residual_sublayer(x, norm2, options_.norm_first, [&](const Var& h) { return feed_forward_block(h); });
  return transpose_unless_batch_first(x, options_.batch_first);
}

Var TransformerEncoderLayer::self_attention_block(const Var& x, const AttentionMask& attn_mask,
                                                  const Mask& key_padding_mask, bool is_causal) const {
  SequenceAttentionOptions call{
      .attn_mask = attn_mask, .key_padding_mask = key_padding_mask, .need_weights = false, .is_causal = is_causal};
  return dropout1.forward(self_attn.forward(x, x, x, call).context);
}

Var TransformerEncoderLayer::feed_forward_block(const Var& x) const {
  return dropout2.forward(linear2.forward(dropout.forward(activate(linear1.forward(x), options_.activation))));
}

}  // namespace tg
