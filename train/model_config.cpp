#include "tapegrad/train/model_config.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace tg {
namespace {

Seq2SeqOptions recurrent_options(const ModelChoice& m, std::size_t source_vocab, std::size_t target_vocab) {
  Seq2SeqOptions o;
  o.source_vocab_size = source_vocab;
  o.target_vocab_size = target_vocab;
  o.embedding_size = m.embedding;
  o.hidden_size = m.hidden;
  o.bidirectional = m.bidirectional;
  const std::size_t directions = m.bidirectional ? 2 : 1;
  o.decoder_hidden_size = m.decoder_hidden == 0 ? directions * m.hidden : m.decoder_hidden;
  o.bridge = o.decoder_hidden_size == directions * m.hidden ? BridgeKind::identity : BridgeKind::linear;
  o.cell = m.cell == "gru" ? RecurrentKind::gru : RecurrentKind::lstm;
  o.encoder_layers = m.encoder_layers;
  o.decoder_layers = m.decoder_layers;
  o.dropout = m.dropout;
  o.label_smoothing = m.label_smoothing;
  o.tie_embeddings = m.tie_embeddings;
  o.attention.kind = parse_attention_kind(m.attention);
  o.attention.attention_size = m.attention_size;
  o.attention.num_heads = m.heads;
  return o;
}

TransformerSeq2SeqOptions transformer_options(const ModelChoice& m, std::size_t source_vocab,
                                              std::size_t target_vocab) {
  TransformerSeq2SeqOptions o;
  o.source_vocab_size = source_vocab;
  o.target_vocab_size = target_vocab;
  o.transformer.d_model = m.embedding;
  o.transformer.nhead = m.heads;
  o.transformer.num_encoder_layers = m.encoder_layers;
  o.transformer.num_decoder_layers = m.decoder_layers;
  o.transformer.dim_feedforward = m.feedforward == 0 ? 4 * m.embedding : m.feedforward;
  o.transformer.dropout = m.dropout;
  o.transformer.activation = parse_transformer_activation(m.activation);
  if (m.norm != "pre" && m.norm != "post")
    throw Error(fmt::format("unknown norm placement '{}' (pre or post)", m.norm));
  o.transformer.norm_first = m.norm == "pre";
  o.positional = parse_positional_kind(m.positional);
  o.share_embeddings = m.share_embeddings;
  o.tie_output = m.tie_embeddings;
  o.label_smoothing = m.label_smoothing;
  return o;
}

const char* dtype_key(DType dtype) { return dtype == DType::f64 ? "float64" : "float32"; }

DType parse_dtype(const std::string& name, const std::string& source) {
  if (name != "float32" && name != "float64") throw Error(fmt::format("{}: unknown dtype '{}'", source, name));
  return name == "float64" ? DType::f64 : DType::f32;
}

nlohmann::ordered_json to_json(const Seq2SeqOptions& o) {
  nlohmann::ordered_json j;
  j["architecture"] = "rnn";
  j["source_vocab_size"] = o.source_vocab_size;
  j["target_vocab_size"] = o.target_vocab_size;
  j["embedding_size"] = o.embedding_size;
  j["hidden_size"] = o.hidden_size;
  j["decoder_hidden_size"] = o.decoder_hidden_size;
  j["cell"] = o.cell == RecurrentKind::gru ? "gru" : "lstm";
  j["encoder_layers"] = o.encoder_layers;
  j["decoder_layers"] = o.decoder_layers;
  j["bidirectional"] = o.bidirectional;
  j["dropout"] = o.dropout;
  j["bridge"] = o.bridge == BridgeKind::identity ? "identity" : o.bridge == BridgeKind::linear ? "linear" : "zeros";
  j["attention"] = attention_kind_name(o.attention.kind);
  j["attention_size"] = o.attention.attention_size;
  j["num_heads"] = o.attention.num_heads;
  j["attention_bias"] = o.attention.bias;
  j["tie_embeddings"] = o.tie_embeddings;
  j["label_smoothing"] = o.label_smoothing;
  j["sampling_probability"] = o.sampling_probability;
  j["sampling_seed"] = o.sampling_seed;
  j["pad_id"] = o.pad_id;
  j["bos_id"] = o.bos_id;
  j["eos_id"] = o.eos_id;
  j["dtype"] = dtype_key(o.dtype);
  return j;
}

// torch.nn.Transformer's argument names for the stack's options.
nlohmann::ordered_json to_json(const TransformerSeq2SeqOptions& o) {
  const TransformerOptions& t = o.transformer;
  nlohmann::ordered_json j;
  j["architecture"] = "transformer";
  j["source_vocab_size"] = o.source_vocab_size;
  j["target_vocab_size"] = o.target_vocab_size;
  j["d_model"] = t.d_model;
  j["nhead"] = t.nhead;
  j["num_encoder_layers"] = t.num_encoder_layers;
  j["num_decoder_layers"] = t.num_decoder_layers;
  j["dim_feedforward"] = t.dim_feedforward;
  j["dropout"] = t.dropout;
  j["activation"] = transformer_activation_name(t.activation);
  j["layer_norm_eps"] = t.layer_norm_eps;
  j["norm_first"] = t.norm_first;
  j["bias"] = t.bias;
  j["positional"] = positional_kind_name(o.positional);
  j["max_length"] = o.max_length;
  j["share_embeddings"] = o.share_embeddings;
  j["tie_output"] = o.tie_output;
  j["label_smoothing"] = o.label_smoothing;
  j["pad_id"] = o.pad_id;
  j["bos_id"] = o.bos_id;
  j["eos_id"] = o.eos_id;
  j["dtype"] = dtype_key(o.dtype);
  return j;
}

Seq2SeqOptions recurrent_from_json(const nlohmann::json& j, const std::string& source, const std::string& what) {
  auto get = [&](const char* key, auto& out) { read_json_field(j, key, out, what); };
  Seq2SeqOptions o;
  std::string cell, bridge, attention, dtype;
  get("source_vocab_size", o.source_vocab_size);
  get("target_vocab_size", o.target_vocab_size);
  get("embedding_size", o.embedding_size);
  get("hidden_size", o.hidden_size);
  get("decoder_hidden_size", o.decoder_hidden_size);
  get("cell", cell);
  get("encoder_layers", o.encoder_layers);
  get("decoder_layers", o.decoder_layers);
  get("bidirectional", o.bidirectional);
  get("dropout", o.dropout);
  get("bridge", bridge);
  get("attention", attention);
  get("attention_size", o.attention.attention_size);
  get("num_heads", o.attention.num_heads);
  get("attention_bias", o.attention.bias);
  get("tie_embeddings", o.tie_embeddings);
  get("label_smoothing", o.label_smoothing);
  get("sampling_probability", o.sampling_probability);
  get("sampling_seed", o.sampling_seed);
  get("pad_id", o.pad_id);
  get("bos_id", o.bos_id);
  get("eos_id", o.eos_id);
  get("dtype", dtype);
  if (cell != "lstm" && cell != "gru") throw Error(fmt::format("{}: unknown cell '{}'", source, cell));
  o.cell = cell == "gru" ? RecurrentKind::gru : RecurrentKind::lstm;
  if (bridge == "identity") {
    o.bridge = BridgeKind::identity;
  } else if (bridge == "linear") {
    o.bridge = BridgeKind::linear;
  } else if (bridge == "zeros") {
    o.bridge = BridgeKind::zeros;
  } else {
    throw Error(fmt::format("{}: unknown bridge '{}'", source, bridge));
  }
  o.attention.kind = parse_attention_kind(attention);
  o.dtype = parse_dtype(dtype, source);
  return o;
}

TransformerSeq2SeqOptions transformer_from_json(const nlohmann::json& j, const std::string& source,
                                                const std::string& what) {
  auto get = [&](const char* key, auto& out) { read_json_field(j, key, out, what); };
  TransformerSeq2SeqOptions o;
  TransformerOptions& t = o.transformer;
  std::string activation, positional, dtype;
  get("source_vocab_size", o.source_vocab_size);
  get("target_vocab_size", o.target_vocab_size);
  get("d_model", t.d_model);
  get("nhead", t.nhead);
  get("num_encoder_layers", t.num_encoder_layers);
  get("num_decoder_layers", t.num_decoder_layers);
  get("dim_feedforward", t.dim_feedforward);
  get("dropout", t.dropout);
  get("activation", activation);
  get("layer_norm_eps", t.layer_norm_eps);
  get("norm_first", t.norm_first);
  get("bias", t.bias);
  get("positional", positional);
  get("max_length", o.max_length);
  get("share_embeddings", o.share_embeddings);
  get("tie_output", o.tie_output);
  get("label_smoothing", o.label_smoothing);
  get("pad_id", o.pad_id);
  get("bos_id", o.bos_id);
  get("eos_id", o.eos_id);
  get("dtype", dtype);
  try {
    t.activation = parse_transformer_activation(activation);
    o.positional = parse_positional_kind(positional);
  } catch (const Error& e) {
    throw Error(fmt::format("{}: {}", what, e.what()));
  }
  o.dtype = parse_dtype(dtype, source);
  return o;
}

}  // namespace

const char* architecture_name(const ModelOptions& options) {
  return std::holds_alternative<TransformerSeq2SeqOptions>(options) ? "transformer" : "rnn";
}

ModelOptions make_options(const ModelChoice& m, std::size_t source_vocab, std::size_t target_vocab) {
  if (m.architecture == "transformer") return transformer_options(m, source_vocab, target_vocab);
  if (m.architecture != "rnn")
    throw Error(fmt::format("unknown architecture '{}' (rnn or transformer)", m.architecture));
  return recurrent_options(m, source_vocab, target_vocab);
}

std::unique_ptr<SequenceModel> make_model(const ModelOptions& options, Generator& gen) {
  return std::visit(
      [&](const auto& o) -> std::unique_ptr<SequenceModel> {
        if constexpr (std::is_same_v<std::decay_t<decltype(o)>, Seq2SeqOptions>) {
          return std::make_unique<Seq2Seq>(o, gen);
        } else {
          return std::make_unique<TransformerSeq2Seq>(o, gen);
        }
      },
      options);
}

double parameter_count_of(const ModelOptions& options) {
  return std::visit([](const auto& o) { return parameter_count_of(o); }, options);
}

std::string options_to_json(const ModelOptions& options) {
  return std::visit([](const auto& o) { return to_json(o).dump(); }, options);
}

ModelOptions options_from_json(const std::string& text, const std::string& source) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    throw Error(fmt::format("{}: the model configuration is not JSON: {}", source, e.what()));
  }
  const std::string what = fmt::format("{}: the model configuration", source);
  std::string architecture = "rnn";  // models saved before the Transformer say none
  if (j.is_object() && j.contains("architecture")) read_json_field(j, "architecture", architecture, what);
  if (architecture == "rnn") return recurrent_from_json(j, source, what);
  if (architecture == "transformer") return transformer_from_json(j, source, what);
  throw Error(fmt::format("{}'s 'architecture' is '{}', not rnn or transformer", what, architecture));
}

}  // namespace tg
