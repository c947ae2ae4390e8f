#include "tapegrad/models/seq2seq.hpp"

#include <algorithm>
#include <string>

#include <fmt/format.h>
#include <xtensor/xview.hpp>

#include "tapegrad/autodiff/mode.hpp"
#include "tapegrad/autodiff/scope.hpp"
#include "tapegrad/ops/dropout.hpp"
#include "tapegrad/ops/loss.hpp"
#include "tapegrad/ops/packed_weights.hpp"
#include "tapegrad/ops/shape.hpp"

namespace tg {
namespace {

/// Ids [B, T] -> [T, B]: the target's steps become contiguous rows.
/// (A loop: xt::eval of a transposed xarray gives a rank-4 xtensor in xtensor 0.24.)
Indices transposed(const Indices& ids) {
  const std::size_t rows = ids.shape()[0], cols = ids.shape()[1];
  Indices out = Indices(std::vector<std::size_t>{cols, rows}, 0);
  for (std::size_t r = 0; r < rows; ++r) {
    for (std::size_t c = 0; c < cols; ++c) out(c, r) = ids(r, c);
  }
  return out;
}

/// Index of each row's largest entry in a [B, V] value.
Indices argmax_rows(const Tensor& logits) {
  const std::size_t rows = logits.shape()[0], cols = logits.shape()[1];
  Indices out = Indices(std::vector<std::size_t>{rows}, std::int64_t{});
  dispatch(logits.dtype(), [&](auto zero) {
    using T = decltype(zero);
    const T* p = logits.array<T>().data();
    for (std::size_t r = 0; r < rows; ++r) {
      const T* row = p + r * cols;
      out(r) = static_cast<std::int64_t>(std::max_element(row, row + cols) - row);
    }
  });
  return out;
}

}  // namespace

Seq2Seq::Seq2Seq(const Seq2SeqOptions& options, Generator& gen)
    : encoder(detail::resolve(options), gen),
      decoder(detail::resolve(options), gen),
      options_(detail::resolve(options)),
      sampling_gen_(options.sampling_seed) {
  register_module("encoder", encoder);
  if (options_.bridge == BridgeKind::linear) {
    bridge_ = std::make_unique<Seq2SeqBridge>(options_, gen);
    register_module("bridge", *bridge_);
  }
  register_module("decoder", decoder);
}

std::unique_ptr<SequenceModel> Seq2Seq::make_fresh(Generator& gen) const {
  return std::make_unique<Seq2Seq>(options_, gen);
}

std::vector<std::int64_t> Seq2Seq::source_lengths(const Indices& source,
                                                  const std::vector<std::int64_t>& lengths) const {
  return checked_source_lengths(source, lengths, options_.pad_id, "Seq2Seq");
}

DecoderState Seq2Seq::initial_state(const RNNState& final_state, std::size_t batch) const {
  const Seq2SeqOptions& o = options_;
  const std::size_t dirs = detail::directions(o), le = o.encoder_layers, ld = o.decoder_layers;
  const std::size_t hd = o.decoder_hidden_size;
  const bool with_c = has_cell_state(o.cell);
  // The parameters' dtype, not options().dtype: copy_as and to() convert a built model.
  const DType dtype = decoder.embedding.weight.dtype();
  DecoderState state;
  state.context = Var(Tensor::zeros({batch, decoder.context_size()}, dtype));
  if (o.bridge == BridgeKind::zeros) {
    for (std::size_t l = 0; l < ld; ++l) {
      state.layers.push_back(
          {Var(Tensor::zeros({batch, hd}, dtype)), with_c ? Var(Tensor::zeros({batch, hd}, dtype)) : Var()});
    }
    return state;
  }
  // [L_e * D, B, H_e] -> [L_d, B, D * H_e]: the directions of a layer side by side (forward
  // first), and the top L_d encoder layers (layer 0 repeated if the decoder has more).
  auto per_layer = [&](const Var& x) {
    Var y = x;
    if (dirs > 1) {
      y = reshape(permute(reshape(y, {le, dirs, batch, o.hidden_size}), {0, 2, 1, 3}),
                  {le, batch, dirs * o.hidden_size});
    }
    if (ld == le) return y;
    std::vector<Var> picked;
    for (std::size_t l = 0; l < ld; ++l) {
      const long m = std::max(0L, static_cast<long>(l + le) - static_cast<long>(ld));
      picked.push_back(slice(y, 0, m, m + 1));
    }
    return concat(picked, 0);
  };
  Var h = per_layer(final_state.h);
  Var c = with_c ? per_layer(final_state.c) : Var();
  if (bridge_) {
    h = bridge_->forward_h(h);
    if (with_c) c = bridge_->forward_c(c);
  }
  if (ld == 1) {
    state.layers.push_back({reshape(h, {batch, hd}), with_c ? reshape(c, {batch, hd}) : Var()});
    return state;
  }
  const std::vector<std::size_t> ones(ld, 1);
  std::vector<Var> hs = split(h, ones, 0);
  std::vector<Var> cs = with_c ? split(c, ones, 0) : std::vector<Var>(ld);
  for (std::size_t l = 0; l < ld; ++l) {
    state.layers.push_back({reshape(hs[l], {batch, hd}), with_c ? reshape(cs[l], {batch, hd}) : Var()});
  }
  return state;
}

EncoderState Seq2Seq::encode(const Indices& source, const std::vector<std::int64_t>& lengths) const {
  EncoderState out;
  out.lengths = source_lengths(source, lengths);
  const std::size_t batch = source.shape()[0], steps = source.shape()[1];
  RNNOutput rnn = encoder.forward(source, out.lengths);
  out.outputs = rnn.output;
  Mask padding = Mask(std::vector<std::size_t>{batch, steps}, bool{});
  for (std::size_t b = 0; b < batch; ++b) {
    for (std::size_t s = static_cast<std::size_t>(out.lengths[b]); s < steps; ++s) padding(b, s) = true;
  }
  {
    NameScope scope("decoder");
    NameScope attention_scope("attention");
    out.memory = decoder.attention().prepare(rnn.output, rnn.output, padding);
  }
  out.initial = initial_state(rnn.state, batch);
  return out;
}

EncoderState Seq2Seq::select(const EncoderState& state, const Indices& rows) const {
  const std::size_t batch = state.lengths.size();
  EncoderState out;
  for (std::size_t r = 0; r < rows.size(); ++r) {
    if (rows(r) < 0 || rows(r) >= static_cast<std::int64_t>(batch)) {
      throw IndexError(fmt::format("Seq2Seq::select: rows[{}] = {} is outside [0, {})", r, rows(r), batch));
    }
    out.lengths.push_back(state.lengths[static_cast<std::size_t>(rows(r))]);
  }
  out.outputs = take_rows(state.outputs, rows);
  const std::size_t steps = state.outputs.shape()[1];
  Mask padding = Mask(std::vector<std::size_t>{rows.size(), steps}, false);
  for (std::size_t r = 0; r < rows.size(); ++r) {
    for (auto s = static_cast<std::size_t>(out.lengths[r]); s < steps; ++s) padding(r, s) = true;
  }
  {
    NameScope scope("decoder");
    NameScope attention_scope("attention");
    out.memory = decoder.attention().prepare(out.outputs, out.outputs, padding);
  }
  out.initial = take_rows(state.initial, rows);
  return out;
}

DecoderStep Seq2Seq::decode_step(const AttentionMemory& memory, const Indices& tokens,
                                 const DecoderState& state) const {
  if (tokens.dimension() != 1 || (state.context.defined() && tokens.shape()[0] != state.context.shape()[0])) {
    throw ShapeError(fmt::format("Seq2Seq::decode_step: tokens must be [B] with B = {} (the state's batch), got {}",
                                 state.context.defined() ? state.context.shape()[0] : 0, ids_shape_str(tokens)));
  }
  Var embedded = dropout(decoder.embedding.forward(tokens), options_.dropout, is_training());
  DecoderStep step = decoder.step(memory, embedded, state);
  step.logits = decoder.project(step.features);
  return step;
}

DecodingVocabulary Seq2Seq::vocabulary() const {
  return {.source_size = options_.source_vocab_size,
          .target_size = options_.target_vocab_size,
          .pad_id = options_.pad_id,
          .bos_id = options_.bos_id,
          .eos_id = options_.eos_id};
}

std::unique_ptr<DecodingState> Seq2Seq::start_decoding(const Indices& source,
                                                       const std::vector<std::int64_t>& lengths) const {
  auto state = std::make_unique<Seq2SeqDecodingState>();
  state->encoded = encode(source, lengths);
  state->decoder = state->encoded.initial;
  state->source_lengths = state->encoded.lengths;
  state->sentence.resize(state->source_lengths.size());
  for (std::size_t r = 0; r < state->sentence.size(); ++r) state->sentence[r] = static_cast<std::int64_t>(r);
  return state;
}

namespace {

Seq2SeqDecodingState& seq2seq_state(DecodingState& state, const char* who) {
  auto* own = dynamic_cast<Seq2SeqDecodingState*>(&state);
  if (own == nullptr) throw Error(fmt::format("{}: the state was not made by Seq2Seq::start_decoding", who));
  return *own;
}

}  // namespace

DecodingStep Seq2Seq::next_step(DecodingState& state, const Indices& tokens) const {
  Seq2SeqDecodingState& s = seq2seq_state(state, "Seq2Seq::next_step");
  DecoderStep step = decode_step(s.encoded.memory, tokens, s.decoder);
  s.decoder = std::move(step.state);
  return {std::move(step.logits), std::move(step.attention)};
}

void Seq2Seq::reorder(DecodingState& state, const Indices& rows) const {
  Seq2SeqDecodingState& s = seq2seq_state(state, "Seq2Seq::reorder");
  const std::size_t current = s.sentence.size();
  std::vector<std::int64_t> sentence(rows.size());
  for (std::size_t r = 0; r < rows.size(); ++r) {
    if (rows(r) < 0 || rows(r) >= static_cast<std::int64_t>(current)) {
      throw IndexError(fmt::format("Seq2Seq::reorder: rows[{}] = {} is outside [0, {})", r, rows(r), current));
    }
    sentence[r] = s.sentence[static_cast<std::size_t>(rows(r))];
  }
  if (sentence != s.sentence) {
    s.encoded = select(s.encoded, rows);
    s.source_lengths = s.encoded.lengths;
    s.sentence = std::move(sentence);
  }
  s.decoder = take_rows(s.decoder, rows);
}

double Seq2Seq::decoding_bytes(std::size_t rows, std::size_t source_length, std::size_t) const {
  Seq2SeqOptions o = options_;
  o.dtype = dtype();  // to() and copy_as convert a built model's parameters, not its options
  return decoding_bytes_of(o, rows, source_length);
}

Var Seq2Seq::forward(const Indices& source, const std::vector<std::int64_t>& lengths, const Indices& target_in) const {
  if (target_in.dimension() != 2 || target_in.shape()[1] == 0 || source.dimension() != 2 ||
      target_in.shape()[0] != source.shape()[0]) {
    throw ShapeError(fmt::format("Seq2Seq: target_in must be [B, T] with T >= 1 and B = {} (the source's), got {}",
                                 source.dimension() == 2 ? source.shape()[0] : 0, ids_shape_str(target_in)));
  }
  const std::size_t steps = target_in.shape()[1];
  FrozenWeights frozen;  // every decoder step multiplies by the same weights: pack them once
  EncoderState enc = encode(source, lengths);
  DecoderState state = std::move(enc.initial);
  std::vector<Var> features;
  features.reserve(steps);
  const bool scheduled = is_training() && options_.sampling_probability > 0.0;
  if (!scheduled) {
    // One embedding lookup for all steps, laid out [T * B, E] so each step's rows are contiguous.
    const std::size_t batch = target_in.shape()[0];
    Var embedded = dropout(decoder.embedding.forward(transposed(target_in)), options_.dropout, is_training());
    embedded = reshape(embedded, Shape{steps * batch, embedded.shape()[2]});
    for (std::size_t t = 0; t < steps; ++t) {
      // One "step" scope per decoder step, its input slice included: graphs collapse the repeats.
      NameScope step_scope("step");
      Var input = slice(embedded, 0, static_cast<long>(t * batch), static_cast<long>((t + 1) * batch));
      DecoderStep step = decoder.step(enc.memory, input, state);
      features.push_back(step.features);
      state = std::move(step.state);
    }
  } else {
    const std::size_t batch = target_in.shape()[0];
    Indices tokens = xt::view(target_in, xt::all(), 0);
    for (std::size_t t = 0; t < steps; ++t) {
      if (t > 0) {
        tokens = xt::view(target_in, xt::all(), t);
        Indices predicted;
        {
          NoGradGuard no_grad;
          predicted = argmax_rows(decoder.project(features.back(), /*with_dropout=*/false).value());
        }
        for (std::size_t b = 0; b < batch; ++b) {
          if (sampling_gen_.uniform() < options_.sampling_probability) tokens(b) = predicted(b);
        }
      }
      Var embedded = dropout(decoder.embedding.forward(tokens), options_.dropout, is_training());
      DecoderStep step = decoder.step(enc.memory, embedded, state);
      features.push_back(step.features);
      state = std::move(step.state);
    }
  }
  // All steps' [s_t; c_t] through the output projection as one GEMM.
  return decoder.project(stack(features, 1));
}

double Seq2Seq::label_smoothing() const { return options_.label_smoothing; }

}  // namespace tg
