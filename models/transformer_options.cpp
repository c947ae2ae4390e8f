#include "tapegrad/models/transformer_options.hpp"

#include <fmt/format.h>

#include "tapegrad/ops/activation.hpp"
#include "tapegrad/ops/elementwise.hpp"
#include "tapegrad/ops/shape.hpp"

namespace tg {

const char* transformer_activation_name(TransformerActivation activation) {
  return activation == TransformerActivation::gelu ? "gelu" : "relu";
}

TransformerActivation parse_transformer_activation(const std::string& name) {
  if (name == "relu") return TransformerActivation::relu;
  if (name == "gelu") return TransformerActivation::gelu;
  throw Error(fmt::format("parse_transformer_activation: unknown activation '{}'; expected relu or gelu", name));
}

Var activate(const Var& x, TransformerActivation activation) {
  return activation == TransformerActivation::gelu ? gelu(x) : relu(x);
}

void check_transformer_layer_options(const TransformerLayerOptions& o, const std::string& who) {
  if (o.d_model == 0 || o.nhead == 0 || o.d_model % o.nhead != 0) {
    throw Error(fmt::format("{}: d_model ({}) must be a positive multiple of nhead ({})", who, o.d_model, o.nhead));
  }
  if (o.dim_feedforward == 0) throw Error(fmt::format("{}: dim_feedforward must be positive", who));
  if (!(o.dropout >= 0.0 && o.dropout <= 1.0)) {
    throw Error(fmt::format("{}: dropout = {} is outside [0, 1]", who, o.dropout));
  }
}

AttentionOptions transformer_attention_options(const TransformerLayerOptions& o) {
  return {.kind = AttentionKind::multi_head,
          .query_size = o.d_model,
          .key_size = o.d_model,
          .value_size = o.d_model,
          .num_heads = o.nhead,
          .bias = o.bias,
          .dropout = o.dropout,
          .dtype = o.dtype};
}

LayerNormOptions transformer_norm_options(const TransformerLayerOptions& o) {
  return {.normalized_shape = o.d_model, .eps = o.layer_norm_eps, .bias = o.bias, .dtype = o.dtype};
}

Var residual_sublayer(const Var& x, const LayerNorm& norm, bool norm_first,
                      const std::function<Var(const Var&)>& block) {
  return norm_first ? x + block(norm.forward(x)) : norm.forward(x + block(x));
}

Var transpose_unless_batch_first(const Var& x, bool batch_first) { return batch_first ? x : transpose(x, 0, 1); }

void check_transformer_input(const Var& x, std::size_t d_model, DType dtype, const std::string& who,
                             const char* argument) {
  if (!x.defined()) throw Error(fmt::format("{}: {} is undefined", who, argument));
  if (x.dim() != 3 || x.shape()[2] != d_model || x.shape()[0] == 0 || x.shape()[1] == 0) {
    throw ShapeError(fmt::format("{}: {} must be [B, L, d_model = {}] (or [L, B, d_model] without batch_first), got {}",
                                 who, argument, d_model, shape_str(x.shape())));
  }
  if (x.dtype() != dtype) {
    throw DTypeError(
        fmt::format("{}: {} is {} but the parameters are {}", who, argument, dtype_name(x.dtype()), dtype_name(dtype)));
  }
}

}  // namespace tg
