#include "tapegrad/models/transformer_decoder.hpp"

namespace tg {

TransformerDecoder::TransformerDecoder(const TransformerDecoderOptions& options, Generator& gen) : options_(options) {
  check_transformer_layer_options(options.layer, "tg::TransformerDecoder");
  TransformerLayerOptions batch_first = options.layer;
  batch_first.batch_first = true;
  for (std::size_t i = 0; i < options.num_layers; ++i) {
    layers_.push_back(std::make_unique<TransformerDecoderLayer>(batch_first, gen));
    layers_list_.append(*layers_.back());
  }
  register_module("layers", layers_list_);
  if (options.norm) {
    norm_ = std::make_unique<LayerNorm>(transformer_norm_options(options.layer));
    register_module("norm", *norm_);
  }
}

Var TransformerDecoder::forward(const Var& tgt, const Var& memory, const TransformerMasks& masks) const {
  check_transformer_input(tgt, options_.layer.d_model, dtype(), type_name(), "tgt");
  check_transformer_input(memory, options_.layer.d_model, dtype(), type_name(), "memory");
  Var x = transpose_unless_batch_first(tgt, options_.layer.batch_first);
  const Var m = transpose_unless_batch_first(memory, options_.layer.batch_first);
  for (const auto& layer : layers_) x = layer->forward(x, m, masks);
  if (norm_) x = norm_->forward(x);
  return transpose_unless_batch_first(x, options_.layer.batch_first);
}

}  // namespace tg
