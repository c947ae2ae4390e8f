#include "seq2seq.hpp"

#include <algorithm>
#include <cmath>
#include <string>

#include <fmt/format.h>
#include <xtensor/xview.hpp>

#include "../autodiff/mode.hpp"
#include "../autodiff/scope.hpp"
#include "../ops/activation.hpp"
#include "../ops/elementwise.hpp"
#include "../ops/index.hpp"
#include "../ops/linalg.hpp"
#include "../ops/loss.hpp"
#include "../ops/packed_weights.hpp"
#include "../ops/shape.hpp"
#include "init.hpp"

namespace tg {
namespace {

std::size_t directions(const Seq2SeqOptions& o) { return o.bidirectional ? 2 : 1; }

/// The options with decoder_hidden_size and the attention's sizes filled in, checked. Idempotent,
/// so that a model rebuilt from options() (copy_as) is the same model.
Seq2SeqOptions resolve(const Seq2SeqOptions& given) {
  Seq2SeqOptions o = given;
  auto fail = [](const std::string& what) { throw Error("Seq2Seq: " + what); };
  if (o.source_vocab_size == 0 || o.target_vocab_size == 0 || o.embedding_size == 0 || o.hidden_size == 0) {
    fail(fmt::format("source_vocab_size ({}), target_vocab_size ({}), embedding_size ({}) and hidden_size ({}) "
                     "must all be positive",
                     o.source_vocab_size, o.target_vocab_size, o.embedding_size, o.hidden_size));
  }
  if (o.encoder_layers == 0 || o.decoder_layers == 0) {
    fail(fmt::format("encoder_layers ({}) and decoder_layers ({}) must be positive", o.encoder_layers,
                     o.decoder_layers));
  }
  const std::size_t dh = directions(o) * o.hidden_size;
  if (o.decoder_hidden_size == 0) o.decoder_hidden_size = dh;
  if (o.bridge == BridgeKind::identity && o.decoder_hidden_size != dh) {
    throw ShapeError(fmt::format("Seq2Seq: the identity bridge needs decoder_hidden_size = directions * hidden_size "
                                 "= {}, got {}; use BridgeKind::linear",
                                 dh, o.decoder_hidden_size));
  }
  const auto special = [&](const char* name, std::int64_t id) {
    const auto v = static_cast<std::int64_t>(std::min(o.source_vocab_size, o.target_vocab_size));
    if (id < 0 || id >= v) fail(fmt::format("{} {} is outside [0, {}) (the smaller vocabulary)", name, id, v));
  };
  special("pad_id", o.pad_id);
  special("bos_id", o.bos_id);
  special("eos_id", o.eos_id);
  if (!(o.dropout >= 0.0 && o.dropout <= 1.0)) fail(fmt::format("dropout {} is outside [0, 1]", o.dropout));
  if (!(o.label_smoothing >= 0.0 && o.label_smoothing <= 1.0)) {
    fail(fmt::format("label_smoothing {} is outside [0, 1]", o.label_smoothing));
  }
  if (!(o.sampling_probability >= 0.0 && o.sampling_probability <= 1.0)) {
    fail(fmt::format("sampling_probability {} is outside [0, 1]", o.sampling_probability));
  }
  const AttentionKind kind = o.attention.kind;
  if ((kind == AttentionKind::dot || kind == AttentionKind::scaled_dot) && o.decoder_hidden_size != dh) {
    throw ShapeError(fmt::format("Seq2Seq: {} attention needs decoder_hidden_size = directions * hidden_size = {} "
                                 "(query and key sizes agree), got {}",
                                 attention_kind_name(kind), dh, o.decoder_hidden_size));
  }
  o.attention.query_size = o.decoder_hidden_size;
  o.attention.key_size = dh;
  o.attention.value_size = dh;
  o.attention.dtype = o.dtype;
  if (o.tie_embeddings) {
    const std::size_t context = o.attention.kind == AttentionKind::multi_head ? o.decoder_hidden_size : dh;
    if (o.embedding_size != o.decoder_hidden_size + context) {
      throw ShapeError(fmt::format("Seq2Seq: tie_embeddings needs embedding_size = decoder_hidden_size + context "
                                   "size = {} + {} = {}, got {}",
                                   o.decoder_hidden_size, context, o.decoder_hidden_size + context, o.embedding_size));
    }
  }
  return o;
}

/// "[2, 3]" for integer ids, as shape_str.
std::string ids_str(const Indices& ids) {
  Shape shape(ids.shape().size());
  std::copy(ids.shape().begin(), ids.shape().end(), shape.begin());
  return shape_str(shape);
}

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

Seq2SeqOptions Seq2SeqOptions::reference(std::size_t vocab, std::size_t embed, std::size_t hidden) {
  Seq2SeqOptions o;
  o.source_vocab_size = vocab;
  o.target_vocab_size = vocab;
  o.embedding_size = embed;
  o.hidden_size = hidden;
  o.decoder_hidden_size = hidden;
  o.cell = RecurrentKind::lstm;
  o.encoder_layers = 1;
  o.decoder_layers = 1;
  o.bidirectional = false;
  o.bridge = BridgeKind::identity;
  o.attention.kind = AttentionKind::additive;
  o.attention.attention_size = hidden;
  return o;
}

double parameter_count_of(const Seq2SeqOptions& given) {
  const Seq2SeqOptions o = resolve(given);
  const double d = double(directions(o)), g = double(gate_count(o.cell));
  const double e = double(o.embedding_size), h = double(o.hidden_size), hd = double(o.decoder_hidden_size);
  const double dh = d * h, layers_e = double(o.encoder_layers), layers_d = double(o.decoder_layers);
  const double vs = double(o.source_vocab_size), vt = double(o.target_vocab_size);
  // A recurrent layer or cell: weight_ih [G*H, I], weight_hh [G*H, H], bias_ih and bias_hh [G*H].
  auto rnn = [&](double in, double hidden) { return g * hidden * (in + hidden + 2.0); };
  double n = vs * e + d * (rnn(e, h) + (layers_e - 1.0) * rnn(dh, h));
  // The linear bridge: weight and bias per decoder layer for h, and as many for c with a cell state.
  const double bridge_maps = has_cell_state(o.cell) ? 2.0 : 1.0;
  if (o.bridge == BridgeKind::linear) n += bridge_maps * layers_d * hd * (dh + 1.0);
  const AttentionOptions& a = o.attention;
  const double context = a.kind == AttentionKind::multi_head ? hd : dh;
  n += vt * e + rnn(e + context, hd) + (layers_d - 1.0) * rnn(hd, hd);
  switch (a.kind) {
    case AttentionKind::additive: {
      const double size = a.attention_size != 0 ? double(a.attention_size) : dh;
      n += size * (hd + 1.0) + size * dh + size;  // query_proj, key_proj, v
      break;
    }
    case AttentionKind::general: n += hd * dh; break;
    case AttentionKind::multi_head:
      n += (dh == hd ? 3.0 * hd * hd : hd * hd + 2.0 * hd * dh) + hd * hd;  // in (or q, k, v) and out projections
      if (a.bias) n += 4.0 * hd;  // in_proj_bias [3 H_d], out_proj.bias [H_d]
      break;
    case AttentionKind::dot:
    case AttentionKind::scaled_dot: break;
  }
  n += o.tie_embeddings ? vt : vt * (hd + context) + vt;
  return n;
}

Var take_rows(const Var& x, const Indices& rows) {
  if (!x.defined()) return x;
  if (x.dim() == 0) throw ShapeError(fmt::format("take_rows: x must have rank >= 1, got {}", shape_str(x.shape())));
  const Shape& shape = x.shape();
  if (x.dim() == 2) return embedding(x, rows);
  Shape out_shape = shape;
  out_shape[0] = rows.size();
  const std::size_t width = shape[0] == 0 ? 0 : x.size() / shape[0];
  return reshape(embedding(reshape(x, Shape{shape[0], width}), rows), out_shape);
}

DecoderState take_rows(const DecoderState& state, const Indices& rows) {
  DecoderState out;
  out.layers.reserve(state.layers.size());
  for (const CellState& layer : state.layers) out.layers.push_back({take_rows(layer.h, rows), take_rows(layer.c, rows)});
  out.context = take_rows(state.context, rows);
  return out;
}

// ---------------------------------------------------------------------------------------------
// StackedCell

StackedCell::StackedCell(const StackedCellOptions& options, Generator& gen) : options_(options) {
  if (options.num_layers == 0 || options.input_size == 0 || options.hidden_size == 0) {
    throw Error(fmt::format("StackedCell: num_layers ({}), input_size ({}) and hidden_size ({}) must be positive",
                            options.num_layers, options.input_size, options.hidden_size));
  }
  for (std::size_t l = 0; l < options.num_layers; ++l) {
    const std::size_t in = l == 0 ? options.input_size : options.hidden_size;
    cells_.push_back(make_cell(
        options.cell, {.input_size = in, .hidden_size = options.hidden_size, .dtype = options.dtype}, gen));
    register_module(std::to_string(l), *cells_.back());
  }
}

std::vector<CellState> StackedCell::forward(const Var& x, const std::vector<CellState>& states) const {
  if (states.size() != options_.num_layers) {
    throw ShapeError(fmt::format("StackedCell: expected {} layer states, got {}", options_.num_layers, states.size()));
  }
  std::vector<CellState> out;
  out.reserve(options_.num_layers);
  Var input = x;
  for (std::size_t l = 0; l < options_.num_layers; ++l) {
    if (l > 0) input = dropout(input, options_.dropout, is_training());
    out.push_back(cells_[l]->step(input, states[l]));
    input = out.back().h;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Encoder

Seq2SeqEncoder::Seq2SeqEncoder(const Seq2SeqOptions& options, Generator& gen)
    : embedding({.num_embeddings = options.source_vocab_size,
                 .embedding_dim = options.embedding_size,
                 .padding_idx = options.pad_id,
                 .dtype = options.dtype},
                gen),
      options_(options) {
  register_module("embedding", embedding);
  const RNNOptions rnn{.input_size = options.embedding_size,
                       .hidden_size = options.hidden_size,
                       .num_layers = options.encoder_layers,
                       .bias = true,
                       .batch_first = true,
                       .dropout = options.dropout,
                       .bidirectional = options.bidirectional,
                       .dtype = options.dtype};
  rnn_ = make_rnn(options.cell, rnn, gen);
  register_module("rnn", *rnn_);
}

RNNOutput Seq2SeqEncoder::forward(const Indices& source, const std::vector<std::int64_t>& lengths) const {
  NameScope scope("encoder");
  Var e = dropout(embedding.forward(source), options_.dropout, is_training());
  return rnn_->forward(e, {}, lengths);
}

// ---------------------------------------------------------------------------------------------
// Bridge

Seq2SeqBridge::Seq2SeqBridge(const Seq2SeqOptions& options, Generator& gen) : options_(options) {
  const std::size_t in = directions(options) * options.hidden_size;
  const std::size_t out = options.decoder_hidden_size;
  const std::size_t layers = options.decoder_layers;
  // PyTorch's Linear default, U(-1/sqrt(in), 1/sqrt(in)), for each layer's map.
  const double bound = 1.0 / std::sqrt(static_cast<double>(in));
  register_parameter("weight_h", weight_h, init::uniform({layers, out, in}, -bound, bound, gen, options.dtype));
  register_parameter("bias_h", bias_h, init::uniform({layers, out}, -bound, bound, gen, options.dtype));
  if (has_cell_state(options.cell)) {
    register_parameter("weight_c", weight_c, init::uniform({layers, out, in}, -bound, bound, gen, options.dtype));
    register_parameter("bias_c", bias_c, init::uniform({layers, out}, -bound, bound, gen, options.dtype));
  }
}

// y[l] = x[l] W[l]^T + b[l]: one batched GEMM over the layers.
Var Seq2SeqBridge::forward_h(const Var& h) const {
  return tanh(add(matmul(h, weight_h, false, true), unsqueeze(bias_h, 1)));
}

Var Seq2SeqBridge::forward_c(const Var& c) const {
  if (!weight_c.defined()) throw Error("Seq2SeqBridge: forward_c needs an LSTM model (GRU has no cell state)");
  return add(matmul(c, weight_c, false, true), unsqueeze(bias_c, 1));
}

// ---------------------------------------------------------------------------------------------
// Decoder

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

// ---------------------------------------------------------------------------------------------
// Seq2Seq

Seq2Seq::Seq2Seq(const Seq2SeqOptions& options, Generator& gen)
    : encoder(resolve(options), gen),
      decoder(resolve(options), gen),
      options_(resolve(options)),
      sampling_gen_(options.sampling_seed) {
  register_module("encoder", encoder);
  if (options_.bridge == BridgeKind::linear) {
    bridge_ = std::make_unique<Seq2SeqBridge>(options_, gen);
    register_module("bridge", *bridge_);
  }
  register_module("decoder", decoder);
}

std::vector<std::int64_t> Seq2Seq::source_lengths(const Indices& source,
                                                  const std::vector<std::int64_t>& lengths) const {
  if (source.dimension() != 2 || source.shape()[0] == 0 || source.shape()[1] == 0) {
    throw ShapeError(fmt::format("Seq2Seq: source must be [B, S] with B, S >= 1, got {}",
                                 ids_str(source)));
  }
  const std::size_t batch = source.shape()[0], steps = source.shape()[1];
  if (lengths.empty()) {
    std::vector<std::int64_t> counted(batch, 0);
    for (std::size_t b = 0; b < batch; ++b) {
      for (std::size_t s = 0; s < steps; ++s) {
        if (source(b, s) != options_.pad_id) counted[b] = static_cast<std::int64_t>(s) + 1;
      }
      if (counted[b] == 0) {
        throw Error(fmt::format("Seq2Seq: source row {} of {} is all padding (pad_id {})", b,
                                ids_str(source), options_.pad_id));
      }
    }
    return counted;
  }
  if (lengths.size() != batch) {
    throw ShapeError(fmt::format("Seq2Seq: {} lengths for a source of batch size {}", lengths.size(), batch));
  }
  for (std::size_t b = 0; b < batch; ++b) {
    if (lengths[b] < 1 || lengths[b] > static_cast<std::int64_t>(steps)) {
      throw IndexError(fmt::format("Seq2Seq: lengths[{}] = {} is outside [1, {}] (source length)", b, lengths[b], steps));
    }
  }
  return lengths;
}

DecoderState Seq2Seq::initial_state(const RNNState& final_state, std::size_t batch) const {
  const Seq2SeqOptions& o = options_;
  const std::size_t dirs = directions(o), le = o.encoder_layers, ld = o.decoder_layers, hd = o.decoder_hidden_size;
  const bool with_c = has_cell_state(o.cell);
  // The parameters' dtype, not options().dtype: copy_as and to() convert a built model.
  const DType dtype = decoder.embedding.weight.dtype();
  DecoderState state;
  state.context = Var(Tensor::zeros({batch, decoder.context_size()}, dtype));
  if (o.bridge == BridgeKind::zeros) {
    for (std::size_t l = 0; l < ld; ++l) {
      state.layers.push_back({Var(Tensor::zeros({batch, hd}, dtype)),
                              with_c ? Var(Tensor::zeros({batch, hd}, dtype)) : Var()});
    }
    return state;
  }
  // [L_e * D, B, H_e] -> [L_d, B, D * H_e]: the directions of a layer side by side (forward
  // first), and the top L_d encoder layers (layer 0 repeated if the decoder has more).
  auto per_layer = [&](const Var& x) {
    Var y = x;
    if (dirs > 1) {
      y = reshape(permute(reshape(y, {le, dirs, batch, o.hidden_size}), {0, 2, 1, 3}), {le, batch, dirs * o.hidden_size});
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

DecoderStep Seq2Seq::decode_step(const AttentionMemory& memory, const Indices& tokens, const DecoderState& state) const {
  if (tokens.dimension() != 1 || (state.context.defined() && tokens.shape()[0] != state.context.shape()[0])) {
    throw ShapeError(fmt::format("Seq2Seq::decode_step: tokens must be [B] with B = {} (the state's batch), got {}",
                                 state.context.defined() ? state.context.shape()[0] : 0,
                                 ids_str(tokens)));
  }
  Var embedded = dropout(decoder.embedding.forward(tokens), options_.dropout, is_training());
  DecoderStep step = decoder.step(memory, embedded, state);
  step.logits = decoder.project(step.features);
  return step;
}

Var Seq2Seq::forward(const Indices& source, const std::vector<std::int64_t>& lengths, const Indices& target_in) const {
  if (target_in.dimension() != 2 || target_in.shape()[1] == 0 || source.dimension() != 2 ||
      target_in.shape()[0] != source.shape()[0]) {
    throw ShapeError(fmt::format("Seq2Seq: target_in must be [B, T] with T >= 1 and B = {} (the source's), got {}",
                                 source.dimension() == 2 ? source.shape()[0] : 0,
                                 ids_str(target_in)));
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

Var Seq2Seq::loss(const Indices& source, const std::vector<std::int64_t>& lengths, const Indices& target_in,
                  const Indices& target_out) const {
  if (target_out.shape() != target_in.shape()) {
    throw ShapeError(fmt::format("Seq2Seq::loss: target_out {} must have target_in's shape {}",
                                 ids_str(target_out),
                                 ids_str(target_in)));
  }
  Var logits = forward(source, lengths, target_in);
  NameScope scope("loss");
  return cross_entropy(logits, target_out,
                       {.ignore_index = options_.pad_id, .label_smoothing = options_.label_smoothing,
                        .reduction = Reduction::mean});
}

}  // namespace tg
