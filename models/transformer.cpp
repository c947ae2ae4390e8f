#include "tapegrad/models/transformer.hpp"

#include <limits>

#include <fmt/format.h>

#include "tapegrad/models/init.hpp"

namespace tg {
namespace {

// The stacks run batch-first: Transformer transposes once at its own entry and exit.
TransformerLayerOptions batch_first_layer(const TransformerOptions& options) {
  TransformerLayerOptions layer = options.layer();
  layer.batch_first = true;
  return layer;
}

}  // namespace

TransformerLayerOptions TransformerOptions::layer() const {
  return {.d_model = d_model,
          .nhead = nhead,
          .dim_feedforward = dim_feedforward,
          .dropout = dropout,
          .activation = activation,
          .layer_norm_eps = layer_norm_eps,
          .batch_first = batch_first,
          .norm_first = norm_first,
          .bias = bias,
          .dtype = dtype};
}

Transformer::Transformer(const TransformerOptions& options, Generator& gen)
    : encoder(
          {.layer = (check_transformer_layer_options(options.layer(), "tg::Transformer"), batch_first_layer(options)),
           .num_layers = options.num_encoder_layers,
           .norm = true},
          gen),
      decoder({.layer = batch_first_layer(options), .num_layers = options.num_decoder_layers, .norm = true}, gen),
      options_(options) {
  register_module("encoder", encoder);
  register_module("decoder", decoder);
  // torch's _reset_parameters.
  for (NamedVar& p : named_parameters()) {
    if (p.var.dim() > 1) p.var.mutable_value() = init::xavier_uniform(p.var.shape(), gen, options.dtype);
  }
}

Var Transformer::forward(const Var& src, const Var& tgt, const TransformerMasks& masks) const {
  check_transformer_input(src, options_.d_model, dtype(), type_name(), "src");
  check_transformer_input(tgt, options_.d_model, dtype(), type_name(), "tgt");
  const std::size_t batch_axis = options_.batch_first ? 0 : 1;
  if (src.shape()[batch_axis] != tgt.shape()[batch_axis]) {
    throw ShapeError(fmt::format("{}: src {} and tgt {} differ in batch size (batch_first = {})", type_name(),
                                 shape_str(src.shape()), shape_str(tgt.shape()), options_.batch_first));
  }
  const Var memory = encoder.forward(transpose_unless_batch_first(src, options_.batch_first), masks);
  const Var output = decoder.forward(transpose_unless_batch_first(tgt, options_.batch_first), memory, masks);
  return transpose_unless_batch_first(output, options_.batch_first);
}

Tensor Transformer::generate_square_subsequent_mask(std::size_t n, DType dtype) {
  Tensor mask = Tensor::zeros({n, n}, dtype);
  for (std::size_t i = 0; i < n; ++i) {
    for (std::size_t j = i + 1; j < n; ++j) mask.set(i * n + j, -std::numeric_limits<double>::infinity());
  }
  return mask;
}

}  // namespace tg
