#pragma once
/// What the Transformer modules share (torch.nn.Transformer's names throughout):
/// the options of one layer, the masks of a forward call, the feed-forward
/// activation, and the residual wiring of every sub-layer.
///
/// Layout: batch_first = true takes [B, L, E]; false (torch's default) takes
/// [L, B, E] and transposes once at entry and exit. Masks do not change with
/// the layout: key padding masks are [B, S], attention masks [L, S] or
/// [B * nhead, L, S] (models/multi_head_attention.hpp has the conventions:
/// true or -inf = may not attend).

#include <cstddef>
#include <functional>
#include <string>

#include "tapegrad/models/attention.hpp"
#include "tapegrad/models/layer_norm.hpp"

namespace tg {

/// The feed-forward activation, as torch's activation="relu" | "gelu" (gelu: the exact erf form).
enum class TransformerActivation { relu, gelu };
/// "relu" or "gelu".
const char* transformer_activation_name(TransformerActivation activation);
/// The activation named as above; throws Error naming `name` and the choices for anything else.
TransformerActivation parse_transformer_activation(const std::string& name);
/// relu(x) or gelu(x).
Var activate(const Var& x, TransformerActivation activation);

/// torch.nn.TransformerEncoderLayer's and TransformerDecoderLayer's constructor arguments.
struct TransformerLayerOptions {
  std::size_t d_model = 0;                                         ///< E, divisible by nhead
  std::size_t nhead = 0;                                           ///< attention heads
  std::size_t dim_feedforward = 2048;                              ///< width of linear1
  double dropout = 0.1;                                            ///< every dropout of the layer, attention's included
  TransformerActivation activation = TransformerActivation::relu;  ///< after linear1
  double layer_norm_eps = 1e-5;                                    ///< eps of every LayerNorm
  bool batch_first = false;                                        ///< [B, L, E] rather than [L, B, E]
  bool norm_first = false;                                         ///< pre-norm: x + f(norm(x)); else norm(x + f(x))
  bool bias = true;                                                ///< biases of the Linears, attentions and LayerNorms
  DType dtype = DType::f32;                                        ///< dtype of the parameters
};

/// The masks of a forward call, by torch.nn.Transformer.forward's argument names.
/// Each module reads its own: encoders the src_* fields, decoders tgt_* and memory_*.
struct TransformerMasks {
  AttentionMask src_mask{};        ///< encoder self-attention, [S, S] or [B * nhead, S, S]
  AttentionMask tgt_mask{};        ///< decoder self-attention, [T, T] or [B * nhead, T, T]
  AttentionMask memory_mask{};     ///< decoder cross-attention, [T, S] or [B * nhead, T, S]
  Mask src_key_padding_mask{};     ///< [B, S], true = padded
  Mask tgt_key_padding_mask{};     ///< [B, T], true = padded
  Mask memory_key_padding_mask{};  ///< [B, S], true = padded
  bool src_is_causal = false;      ///< add the causal mask to the encoder's self-attention (torch 2.x)
  bool tgt_is_causal = false;      ///< add the causal mask to the decoder's self-attention (torch 2.x)
  bool memory_is_causal = false;   ///< add the causal mask to the cross-attention (torch 2.x)
};

/// Throws Error naming `who` unless d_model and nhead are positive, nhead divides
/// d_model, dim_feedforward is positive and dropout is in [0, 1].
void check_transformer_layer_options(const TransformerLayerOptions& options, const std::string& who);

/// The attention options of a layer's self_attn or multihead_attn.
AttentionOptions transformer_attention_options(const TransformerLayerOptions& options);

/// The options of a layer's (or a stack's final) LayerNorm: d_model, layer_norm_eps, bias.
LayerNormOptions transformer_norm_options(const TransformerLayerOptions& options);

/// The residual wiring of every sub-layer: x + block(norm(x)) with norm_first,
/// else norm(x + block(x)).
Var residual_sublayer(const Var& x, const LayerNorm& norm, bool norm_first,
                      const std::function<Var(const Var&)>& block);

/// [L, B, E] <-> [B, L, E] unless batch_first: the layout change at a module's
/// entry and, being its own inverse, at its exit.
Var transpose_unless_batch_first(const Var& x, bool batch_first);

/// Throws ShapeError naming `who`, the argument and its shape unless x is
/// [*, *, d_model] with no dimension 0; DTypeError unless it is of `dtype`.
void check_transformer_input(const Var& x, std::size_t d_model, DType dtype, const std::string& who,
                             const char* argument);

}  // namespace tg
