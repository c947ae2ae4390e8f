#include "tapegrad/models/seq2seq_decoder.hpp"

#include <cmath>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "tapegrad/autodiff/scope.hpp"
#include "tapegrad/models/init.hpp"
#include "tapegrad/ops/dropout.hpp"
#include "tapegrad/ops/linalg.hpp"
#include "tapegrad/ops/shape.hpp"

namespace tg {

Seq2SeqDecoder::Seq2SeqDecoder(const Seq2SeqOptions& options, Generator& gen)
    : embedding({.num_embeddings = options.target_vocab_size,
                 .embedding_dim = options.embedding_size,
                 .padding_idx = options.pad_id,
                 .dtype = options.dtype},
                gen),
      cells({.cell = options.cell,
             .input_size = options.embedding_size + (options.attention.kind == AttentionKind::multi_head
                                                         ? options.decoder_hidden_size
                                                         : options.attention.value_size),
             .hidden_size = options.decoder_hidden_size,
             .num_layers = options.decoder_layers,
             .dropout = options.dropout,
             .dtype = options.dtype},
            gen),
      options_(options),
      attention_(make_attention(options.attention, gen)) {
  const std::size_t features = options.decoder_hidden_size + attention_->context_size();
  if (cells.options().input_size != options.embedding_size + attention_->context_size()) {
    throw ShapeError(fmt::format("Seq2SeqDecoder: the attention's context size is {}, expected {}",
                                 attention_->context_size(), cells.options().input_size - options.embedding_size));
  }
  if (options.tie_embeddings) {
    const double bound = 1.0 / std::sqrt(static_cast<double>(features));
    register_parameter("output_bias", output_bias,
                       init::uniform({options.target_vocab_size}, -bound, bound, gen, options.dtype));
  }
  register_module("embedding", embedding);
  register_module("cells", cells);
  register_module("attention", *attention_);
  if (!options.tie_embeddings) {
    output_ = std::make_unique<Linear>(
        LinearOptions{.in_features = features, .out_features = options.target_vocab_size, .dtype = options.dtype}, gen);
    register_module("output", *output_);
  }
}

DecoderStep Seq2SeqDecoder::step(const AttentionMemory& memory, const Var& embedded, const DecoderState& state) const {
  NameScope scope("decoder");
  // Input feeding: the previous step's context goes into this step's cells.
  Var x = concat({embedded, state.context}, 1);
  std::vector<CellState> layers = cells.forward(x, state.layers);
  const Var s = layers.back().h;
  AttentionResult a = attention_->attend(memory, s);
  Var features = concat({s, a.context}, 1);
  return {Var(), features, a.weights, DecoderState{std::move(layers), a.context}};
}

Var Seq2SeqDecoder::project(const Var& features, bool with_dropout) const {
  NameScope scope("output");
  Var x = with_dropout ? dropout(features, options_.dropout, is_training()) : features;
  return output_ ? output_->forward(x) : linear(x, embedding.weight, output_bias);
}

}  // namespace tg
