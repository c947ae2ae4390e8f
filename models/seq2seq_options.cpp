#include "tapegrad/models/seq2seq_options.hpp"

#include <algorithm>
#include <string>

#include <fmt/format.h>

namespace tg {
namespace detail {

std::size_t directions(const Seq2SeqOptions& o) { return o.bidirectional ? 2 : 1; }

Seq2SeqOptions resolve(const Seq2SeqOptions& given) {
  Seq2SeqOptions o = given;
  auto fail = [](const std::string& what) { throw Error("Seq2Seq: " + what); };
  if (o.source_vocab_size == 0 || o.target_vocab_size == 0 || o.embedding_size == 0 || o.hidden_size == 0) {
    fail(
        fmt::format("source_vocab_size ({}), target_vocab_size ({}), embedding_size ({}) and hidden_size ({}) "
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
    throw ShapeError(
        fmt::format("Seq2Seq: the identity bridge needs decoder_hidden_size = directions * hidden_size "
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
    throw ShapeError(
        fmt::format("Seq2Seq: {} attention needs decoder_hidden_size = directions * hidden_size = {} "
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
      throw ShapeError(
          fmt::format("Seq2Seq: tie_embeddings needs embedding_size = decoder_hidden_size + context "
                      "size = {} + {} = {}, got {}",
                      o.decoder_hidden_size, context, o.decoder_hidden_size + context, o.embedding_size));
    }
  }
  return o;
}

}  // namespace detail

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
  const Seq2SeqOptions o = detail::resolve(given);
  const double d = double(detail::directions(o)), g = double(gate_count(o.cell));
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
    case AttentionKind::general:
      n += hd * dh;
      break;
    case AttentionKind::multi_head:
      n += (dh == hd ? 3.0 * hd * hd : hd * hd + 2.0 * hd * dh) + hd * hd;  // in (or q, k, v) and out projections
      if (a.bias) n += 4.0 * hd;                                            // in_proj_bias [3 H_d], out_proj.bias [H_d]
      break;
    case AttentionKind::dot:
    case AttentionKind::scaled_dot:
      break;
  }
  n += o.tie_embeddings ? vt : vt * (hd + context) + vt;
  return n;
}

double decoding_bytes_of(const Seq2SeqOptions& o, std::size_t rows, std::size_t source_length) {
  const double element = o.dtype == DType::f64 ? 8.0 : 4.0;
  const double n = double(rows), s = double(source_length);
  const double width = double(std::max((o.bidirectional ? 2 : 1) * o.hidden_size, o.decoder_hidden_size));
  const double encoder = n * s * 3.0 * width * element;  // outputs, keys, values
  const double step = n * (4.0 * double(o.target_vocab_size) + 8.0 * width) * element;
  return encoder + step;
}

}  // namespace tg
