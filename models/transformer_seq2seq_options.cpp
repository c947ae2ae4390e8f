#include "tapegrad/models/transformer_seq2seq_options.hpp"

#include <fmt/format.h>

namespace tg::detail {

TransformerSeq2SeqOptions resolve(const TransformerSeq2SeqOptions& options) {
  TransformerSeq2SeqOptions o = options;
  const char* who = "TransformerSeq2Seq";
  if (o.source_vocab_size == 0 || o.target_vocab_size == 0) {
    throw Error(fmt::format("{}: source_vocab_size and target_vocab_size must be >= 1, got {} and {}", who,
                            o.source_vocab_size, o.target_vocab_size));
  }
  const auto smallest = static_cast<std::int64_t>(std::min(o.source_vocab_size, o.target_vocab_size));
  for (auto [name, id] :
       {std::pair{"pad_id", o.pad_id}, std::pair{"bos_id", o.bos_id}, std::pair{"eos_id", o.eos_id}}) {
    if (id < 0 || id >= smallest) {
      throw Error(fmt::format("{}: {} = {} is outside [0, {}) (the smaller vocabulary)", who, name, id, smallest));
    }
  }
  if (o.share_embeddings && o.source_vocab_size != o.target_vocab_size) {
    throw Error(fmt::format("{}: share_embeddings needs source_vocab_size = target_vocab_size, got {} and {}", who,
                            o.source_vocab_size, o.target_vocab_size));
  }
  if (!(o.label_smoothing >= 0.0 && o.label_smoothing <= 1.0)) {
    throw Error(fmt::format("{}: label_smoothing must be in [0, 1], got {}", who, o.label_smoothing));
  }
  if (o.positional == PositionalKind::learned && o.max_length == 0) {
    throw Error(fmt::format("{}: max_length must be >= 1 with learned positions", who));
  }
  o.transformer.batch_first = true;
  o.transformer.dtype = o.dtype;
  check_transformer_layer_options(o.transformer.layer(), who);
  return o;
}

}  // namespace tg::detail

namespace tg {

double parameter_count_of(const TransformerSeq2SeqOptions& given) {
  const TransformerSeq2SeqOptions o = detail::resolve(given);
  const TransformerOptions& t = o.transformer;
  const double e = double(t.d_model), f = double(t.dim_feedforward), bias = t.bias ? 1.0 : 0.0;
  const double vs = double(o.source_vocab_size), vt = double(o.target_vocab_size);
  const double attention = 4.0 * e * e + 4.0 * e * bias;  // in_proj [3E, E] and out_proj [E, E], with biases
  const double norm = e + e * bias;
  const double feedforward = 2.0 * e * f + (f + e) * bias;  // linear1 [F, E], linear2 [E, F]
  const double encoder_layer = attention + 2.0 * norm + feedforward;
  const double decoder_layer = 2.0 * attention + 3.0 * norm + feedforward;
  double n = double(t.num_encoder_layers) * encoder_layer + double(t.num_decoder_layers) * decoder_layer;
  n += 2.0 * norm;  // the final norms of the encoder and the decoder
  n += vs * e + (o.share_embeddings ? 0.0 : vt * e);
  if (o.positional == PositionalKind::learned) n += 2.0 * double(o.max_length) * e;
  n += o.tie_output ? vt : vt * e + vt;
  return n;
}

}  // namespace tg
