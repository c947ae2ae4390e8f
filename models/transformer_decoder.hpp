#pragma once
/// TransformerDecoder: torch.nn.TransformerDecoder, num_layers copies of a
/// TransformerDecoderLayer configuration (each with its own parameters), every
/// one attending to the same memory, then the optional final LayerNorm:
///   x = layers.{N-1}(... layers.0(tgt, memory) ..., memory);   output = norm(x) if options.norm
/// Parameters: layers.0.self_attn.in_proj_weight, ..., layers.{N-1}.norm3.bias,
/// norm.weight, norm.bias (with options.norm), as PyTorch's.
/// Incremental decoding runs layer(i)'s sub-blocks (transformer_decoder_layer.hpp),
/// then norm().

#include <memory>
#include <vector>

#include "tapegrad/models/module_list.hpp"
#include "tapegrad/models/transformer_decoder_layer.hpp"

namespace tg {

struct TransformerDecoderOptions {
  TransformerLayerOptions layer;  ///< every layer's options (its batch_first is the stack's)
  std::size_t num_layers = 6;     ///< number of layers
  bool norm = false;              ///< a final LayerNorm (nn.Transformer's decoder has one)
};

class TransformerDecoder : public Module {
 public:
  explicit TransformerDecoder(const TransformerDecoderOptions& options, Generator& gen = default_generator());
  /// tgt [B, T, E], memory [B, S, E] ([T, B, E], [S, B, E] without batch_first) -> [B, T, E];
  /// reads masks.tgt_* and masks.memory_*.
  Var forward(const Var& tgt, const Var& memory, const TransformerMasks& masks = {}) const;
  const TransformerDecoderOptions& options() const { return options_; }
  std::size_t num_layers() const { return layers_.size(); }
  /// Layer i, which works batch-first whatever options().layer.batch_first says (the stack transposes once).
  const TransformerDecoderLayer& layer(std::size_t i) const { return *layers_.at(i); }
  /// The final LayerNorm; null without options.norm.
  const LayerNorm* norm() const { return norm_.get(); }

 private:
  TransformerDecoderOptions options_;
  std::vector<std::unique_ptr<TransformerDecoderLayer>> layers_;
  ModuleList layers_list_;
  std::unique_ptr<LayerNorm> norm_;
};

}  // namespace tg
