#pragma once
/// Transformer: torch.nn.Transformer (Vaswani et al. 2017), an encoder stack
/// and a decoder stack, each ending in a LayerNorm:
///   memory = encoder(src, src_mask, src_key_padding_mask)
///   output = decoder(tgt, memory, tgt_mask, memory_mask, tgt_key_padding_mask, memory_key_padding_mask)
/// with no embeddings and no output projection (as torch's).
///
/// Parameters, named as PyTorch's: encoder.layers.{i}.{self_attn, linear1,
/// linear2, norm1, norm2}.*, encoder.norm.*, decoder.layers.{i}.{self_attn,
/// multihead_attn, linear1, linear2, norm1, norm2, norm3}.*, decoder.norm.*, so
/// a torch.nn.Transformer's state dict loads strictly, and ours into torch.
/// Initialisation as torch's _reset_parameters: xavier_uniform for every
/// parameter of rank > 1, the layers' own for the rest.

#include "tapegrad/models/transformer_decoder.hpp"
#include "tapegrad/models/transformer_encoder.hpp"

namespace tg {

/// torch.nn.Transformer's constructor arguments, with its defaults.
struct TransformerOptions {
  std::size_t d_model = 512;                                       ///< E, divisible by nhead
  std::size_t nhead = 8;                                           ///< attention heads
  std::size_t num_encoder_layers = 6;                              ///< encoder layers
  std::size_t num_decoder_layers = 6;                              ///< decoder layers
  std::size_t dim_feedforward = 2048;                              ///< width of each linear1
  double dropout = 0.1;                                            ///< every dropout, attention's included
  TransformerActivation activation = TransformerActivation::relu;  ///< after linear1
  double layer_norm_eps = 1e-5;                                    ///< eps of every LayerNorm
  bool batch_first = false;                                        ///< [B, L, E] rather than [L, B, E]
  bool norm_first = false;                                         ///< pre-norm layers
  bool bias = true;                                                ///< biases of Linears, attentions, LayerNorms
  DType dtype = DType::f32;                                        ///< dtype of the parameters
  /// The options of each layer (batch_first included).
  TransformerLayerOptions layer() const;
};

class Transformer : public Module {
 public:
  explicit Transformer(const TransformerOptions& options, Generator& gen = default_generator());
  /// src [B, S, E], tgt [B, T, E] ([S, B, E], [T, B, E] without batch_first) -> [B, T, E].
  /// masks: src_mask, tgt_mask, memory_mask, the three key padding masks and the
  /// is_causal flags, by torch's names.
  Var forward(const Var& src, const Var& tgt, const TransformerMasks& masks = {}) const;
  /// torch's generate_square_subsequent_mask: [n, n], -inf above the diagonal, 0 elsewhere
  /// (a float attn_mask: position i attends positions 0..i).
  static Tensor generate_square_subsequent_mask(std::size_t n, DType dtype = DType::f32);
  const TransformerOptions& options() const { return options_; }

  TransformerEncoder encoder;  ///< with the final norm
  TransformerDecoder decoder;  ///< with the final norm

 private:
  TransformerOptions options_;
};

}  // namespace tg
