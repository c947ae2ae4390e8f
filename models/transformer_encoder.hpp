#pragma once
/// TransformerEncoder: torch.nn.TransformerEncoder, num_layers copies of a
/// TransformerEncoderLayer configuration (each with its own parameters), then
/// the optional final LayerNorm:
///   x = layers.{N-1}(... layers.0(src) ...);   output = norm(x) if options.norm
/// Parameters: layers.0.self_attn.in_proj_weight, ..., layers.{N-1}.norm2.bias,
/// norm.weight, norm.bias (with options.norm), as PyTorch's.

#include <memory>
#include <vector>

#include "tapegrad/models/module_list.hpp"
#include "tapegrad/models/transformer_encoder_layer.hpp"

namespace tg {

struct TransformerEncoderOptions {
  TransformerLayerOptions layer;  ///< every layer's options (its batch_first is the stack's)
  std::size_t num_layers = 6;     ///< number of layers
  bool norm = false;              ///< a final LayerNorm (nn.Transformer's encoder has one)
};

class TransformerEncoder : public Module {
 public:
  explicit TransformerEncoder(const TransformerEncoderOptions& options, Generator& gen = default_generator());
  /// src [B, S, E] ([S, B, E] without batch_first) -> [B, S, E]; reads masks.src_*.
  Var forward(const Var& src, const TransformerMasks& masks = {}) const;
  const TransformerEncoderOptions& options() const { return options_; }
  std::size_t num_layers() const { return layers_.size(); }
  /// Layer i, which works batch-first whatever options().layer.batch_first says (the stack transposes once).
  const TransformerEncoderLayer& layer(std::size_t i) const { return *layers_.at(i); }
  /// The final LayerNorm; null without options.norm.
  const LayerNorm* norm() const { return norm_.get(); }

 private:
  TransformerEncoderOptions options_;
  std::vector<std::unique_ptr<TransformerEncoderLayer>> layers_;
  ModuleList layers_list_;
  std::unique_ptr<LayerNorm> norm_;
};

}  // namespace tg
