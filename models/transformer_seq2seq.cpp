#include "tapegrad/models/transformer_seq2seq.hpp"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>
#include <xtensor/xbuilder.hpp>
#include <xtensor/xview.hpp>

#include "tapegrad/autodiff/scope.hpp"
#include "tapegrad/models/init.hpp"
#include "tapegrad/ops/dropout.hpp"
#include "tapegrad/ops/elementwise.hpp"
#include "tapegrad/ops/linalg.hpp"
#include "tapegrad/ops/loss.hpp"
#include "tapegrad/ops/shape.hpp"

namespace tg {
namespace {

/// Embedding(V, E) with fairseq's N(0, E^-1/2) and row pad_id zero: scaled by sqrt(E), a token
/// then has about the size of a position's encoding.
EmbeddingOptions embedding_options(std::size_t vocab, const TransformerSeq2SeqOptions& o) {
  return {.num_embeddings = vocab, .embedding_dim = o.transformer.d_model, .padding_idx = o.pad_id, .dtype = o.dtype};
}

void reinitialise(Embedding& table, Generator& gen) {
  const Shape shape = table.weight.shape();
  Tensor w = init::normal(shape, 0.0, 1.0 / std::sqrt(static_cast<double>(shape[1])), gen, table.weight.dtype());
  const auto pad = static_cast<std::size_t>(*table.padding_idx());
  for (std::size_t e = 0; e < shape[1]; ++e) w.set(pad * shape[1] + e, 0.0);
  table.weight.mutable_value() = w;
}

PositionalEncodingOptions positional_options(const TransformerSeq2SeqOptions& o) {
  return {.kind = o.positional, .d_model = o.transformer.d_model, .max_length = o.max_length, .dtype = o.dtype};
}

TransformerDecodingState& transformer_state(DecodingState& state, const char* who) {
  auto* own = dynamic_cast<TransformerDecodingState*>(&state);
  if (own == nullptr) throw Error(fmt::format("{}: the state was not made by TransformerSeq2Seq::start_decoding", who));
  return *own;
}

/// [B, S] true past each row's length.
Mask padding_of(const std::vector<std::int64_t>& lengths, std::size_t steps) {
  Mask padding = Mask(std::vector<std::size_t>{lengths.size(), steps}, false);
  for (std::size_t b = 0; b < lengths.size(); ++b) {
    for (std::size_t s = 0; s < steps; ++s) padding(b, s) = static_cast<std::int64_t>(s) >= lengths[b];
  }
  return padding;
}

}  // namespace

TransformerSeq2Seq::TransformerSeq2Seq(const TransformerSeq2SeqOptions& options, Generator& gen)
    : source_embedding(embedding_options(detail::resolve(options).source_vocab_size, options), gen),
      transformer(detail::resolve(options).transformer, gen),
      options_(detail::resolve(options)) {
  reinitialise(source_embedding, gen);
  register_module("source_embedding", source_embedding);
  if (!options_.share_embeddings) {
    target_embedding_ = std::make_unique<Embedding>(embedding_options(options_.target_vocab_size, options_), gen);
    reinitialise(*target_embedding_, gen);
    register_module("target_embedding", *target_embedding_);
  }
  source_positions_ = make_positional_encoding(positional_options(options_), gen);
  target_positions_ = make_positional_encoding(positional_options(options_), gen);
  register_module("source_positions", *source_positions_);
  register_module("target_positions", *target_positions_);
  register_module("transformer", transformer);
  if (options_.tie_output) {
    register_parameter("output_bias", output_bias, Tensor::zeros({options_.target_vocab_size}, options_.dtype));
  } else {
    output_ = std::make_unique<Linear>(LinearOptions{.in_features = options_.transformer.d_model,
                                                     .out_features = options_.target_vocab_size,
                                                     .dtype = options_.dtype},
                                       gen);
    register_module("output", *output_);
  }
}

std::unique_ptr<SequenceModel> TransformerSeq2Seq::make_fresh(Generator& gen) const {
  return std::make_unique<TransformerSeq2Seq>(options_, gen);
}

std::vector<std::int64_t> TransformerSeq2Seq::source_lengths(const Indices& source,
                                                             const std::vector<std::int64_t>& lengths) const {
  return checked_source_lengths(source, lengths, options_.pad_id, "TransformerSeq2Seq");
}

Var TransformerSeq2Seq::embed(const Embedding& table, const PositionalEncoding& positions, const Indices& ids,
                              std::size_t offset) const {
  const double scale = std::sqrt(static_cast<double>(options_.transformer.d_model));
  return dropout(positions.forward(table.forward(ids) * scale, offset), options_.transformer.dropout, is_training());
}

Var TransformerSeq2Seq::encode(const Indices& source, const std::vector<std::int64_t>& lengths, Mask& padding) const {
  const std::vector<std::int64_t> checked = source_lengths(source, lengths);
  padding = padding_of(checked, source.shape()[1]);
  Var x;
  {
    NameScope scope("source");
    x = embed(source_embedding, *source_positions_, source, 0);
  }
  TransformerMasks masks;
  if (!masks_nothing(padding)) masks.src_key_padding_mask = padding;
  return transformer.encoder.forward(x, masks);
}

Var TransformerSeq2Seq::project(const Var& h) const {
  NameScope scope("output");
  return output_ ? output_->forward(h) : linear(h, target_embedding().weight, output_bias);
}

Var TransformerSeq2Seq::forward(const Indices& source, const std::vector<std::int64_t>& lengths,
                                const Indices& target_in) const {
  if (target_in.dimension() != 2 || target_in.shape()[1] == 0 || source.dimension() != 2 ||
      target_in.shape()[0] != source.shape()[0]) {
    throw ShapeError(
        fmt::format("TransformerSeq2Seq: target_in must be [B, T] with T >= 1 and B = {} (the source's), got {}",
                    source.dimension() == 2 ? source.shape()[0] : 0, ids_shape_str(target_in)));
  }
  Mask padding;
  Var memory = encode(source, lengths, padding);
  Var y;
  {
    NameScope scope("target");
    y = embed(target_embedding(), *target_positions_, target_in, 0);
  }
  TransformerMasks masks;
  masks.tgt_mask = Transformer::generate_square_subsequent_mask(target_in.shape()[1], dtype());
  if (!masks_nothing(padding)) masks.memory_key_padding_mask = padding;
  return project(transformer.decoder.forward(y, memory, masks));
}

double TransformerSeq2Seq::label_smoothing() const { return options_.label_smoothing; }

DecodingVocabulary TransformerSeq2Seq::vocabulary() const {
  return {.source_size = options_.source_vocab_size,
          .target_size = options_.target_vocab_size,
          .pad_id = options_.pad_id,
          .bos_id = options_.bos_id,
          .eos_id = options_.eos_id};
}

std::unique_ptr<DecodingState> TransformerSeq2Seq::start_decoding(const Indices& source,
                                                                  const std::vector<std::int64_t>& lengths) const {
  auto state = std::make_unique<TransformerDecodingState>();
  state->source_lengths = source_lengths(source, lengths);
  Mask padding;
  const Var memory = encode(source, state->source_lengths, padding);
  const Mask& memory_padding = masks_nothing(padding) ? Mask{} : padding;
  for (std::size_t i = 0; i < transformer.decoder.num_layers(); ++i) {
    state->cross.push_back(transformer.decoder.layer(i).multihead_attn.prepare(memory, memory, memory_padding));
  }
  state->cache.resize(transformer.decoder.num_layers());
  state->sentence.resize(state->source_lengths.size());
  for (std::size_t r = 0; r < state->sentence.size(); ++r) state->sentence[r] = static_cast<std::int64_t>(r);
  return state;
}

DecodingStep TransformerSeq2Seq::next_step(DecodingState& state, const Indices& tokens) const {
  TransformerDecodingState& s = transformer_state(state, "TransformerSeq2Seq::next_step");
  const std::size_t rows = s.sentence.size();
  if (tokens.dimension() != 1 || tokens.shape()[0] != rows) {
    throw ShapeError(fmt::format("TransformerSeq2Seq::next_step: tokens must be [{}] (the state's rows), got {}", rows,
                                 ids_shape_str(tokens)));
  }
  Indices column = Indices(std::vector<std::size_t>{rows, 1}, std::int64_t{});
  std::copy_n(tokens.data(), rows, column.data());
  // With the cache, the new position alone; without, the whole prefix again.
  if (!key_value_cache) s.prefix = s.steps == 0 ? column : Indices(xt::concatenate(xt::xtuple(s.prefix, column), 1));
  const Indices& fed = key_value_cache ? column : s.prefix;
  const std::size_t length = fed.shape()[1];
  Var x = embed(target_embedding(), *target_positions_, fed, key_value_cache ? s.steps : 0);  // [rows, length, E]
  const bool norm_first = options_.transformer.norm_first;
  const std::size_t layers = transformer.decoder.num_layers();
  Var attention;
  for (std::size_t i = 0; i < layers; ++i) {
    const TransformerDecoderLayer& layer = transformer.decoder.layer(i);
    // The layer's three sub-blocks as its forward() wires them, the self-attention against
    // the cache with this position's keys and values appended.
    x = residual_sublayer(x, layer.norm1, norm_first, [&](const Var& h) {
      if (!key_value_cache) return layer.self_attention_block(h, {}, {}, /*is_causal=*/true);
      AttentionMemory rows_kv = layer.self_attn.prepare(h, h);
      if (s.steps > 0) {
        rows_kv.keys = concat({s.cache[i].keys, rows_kv.keys}, 1);
        rows_kv.values = concat({s.cache[i].values, rows_kv.values}, 1);
      }
      s.cache[i] = std::move(rows_kv);
      return layer.self_attention_block(h, s.cache[i]);
    });
    x = residual_sublayer(x, layer.norm2, norm_first, [&](const Var& h) {
      if (i + 1 < layers) return layer.cross_attention_block(h, s.cross[i]);
      // The last layer's is cross_attention_block with the weights kept for Hypothesis::attention.
      AttentionResult r = layer.multihead_attn.attend_sequence(s.cross[i], h, {.need_weights = true});
      const auto last = static_cast<long>(length) - 1;
      attention = reshape(slice(r.weights, 1, last, last + 1), Shape{rows, r.weights.shape()[2]});
      return layer.dropout2.forward(r.context);
    });
    x = residual_sublayer(x, layer.norm3, norm_first, [&](const Var& h) { return layer.feed_forward_block(h); });
  }
  if (transformer.decoder.norm() != nullptr) x = transformer.decoder.norm()->forward(x);
  if (length > 1) x = slice(x, 1, static_cast<long>(length) - 1, static_cast<long>(length));
  ++s.steps;
  return {reshape(project(x), Shape{rows, options_.target_vocab_size}), attention};
}

void TransformerSeq2Seq::reorder(DecodingState& state, const Indices& rows) const {
  TransformerDecodingState& s = transformer_state(state, "TransformerSeq2Seq::reorder");
  const std::size_t current = s.sentence.size(), heads = options_.transformer.nhead;
  std::vector<std::int64_t> sentence(rows.size());
  std::vector<std::int64_t> lengths(rows.size());
  for (std::size_t r = 0; r < rows.size(); ++r) {
    if (rows(r) < 0 || rows(r) >= static_cast<std::int64_t>(current)) {
      throw IndexError(
          fmt::format("TransformerSeq2Seq::reorder: rows[{}] = {} is outside [0, {})", r, rows(r), current));
    }
    sentence[r] = s.sentence[static_cast<std::size_t>(rows(r))];
    lengths[r] = s.source_lengths[static_cast<std::size_t>(rows(r))];
  }
  if (sentence != s.sentence) {
    for (AttentionMemory& m : s.cross) m = take_rows(m, rows, heads);
    s.sentence = std::move(sentence);
    s.source_lengths = std::move(lengths);
  }
  if (s.steps > 0 && key_value_cache) {
    for (AttentionMemory& m : s.cache) m = take_rows(m, rows, heads);
  }
  if (s.steps > 0 && !key_value_cache) {
    const std::vector<std::size_t> kept(rows.begin(), rows.end());
    s.prefix = xt::view(s.prefix, xt::keep(kept), xt::all());
  }
}

double TransformerSeq2Seq::decoding_bytes(std::size_t rows, std::size_t source_length, std::size_t max_length) const {
  const TransformerOptions& t = options_.transformer;
  const double element = dtype() == DType::f64 ? 8.0 : 4.0;
  const double n = double(rows), s = double(source_length), e = double(t.d_model);
  const double layers = double(t.num_decoder_layers);
  const double cross = layers * 2.0 * n * s * e;                   // keys and values per layer
  const double cache = layers * 2.0 * n * double(max_length) * e;  // at the last step
  const double encoder = n * s * e * double(std::max<std::size_t>(t.num_encoder_layers, 1)) * 4.0;
  const double step = n * (2.0 * double(options_.target_vocab_size) + 8.0 * e + double(t.dim_feedforward));
  return (cross + cache + encoder + step) * element;
}

}  // namespace tg
