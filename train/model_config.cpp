#include "tapegrad/train/model_config.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace tg {

Seq2SeqOptions make_options(const ModelChoice& m, std::size_t source_vocab, std::size_t target_vocab) {
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

std::string options_to_json(const Seq2SeqOptions& o) {
  nlohmann::ordered_json j;
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
  j["dtype"] = o.dtype == DType::f64 ? "float64" : "float32";
  return j.dump();
}

Seq2SeqOptions options_from_json(const std::string& text, const std::string& source) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    throw Error(fmt::format("{}: the model configuration is not JSON: {}", source, e.what()));
  }
  const std::string what = fmt::format("{}: the model configuration", source);
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
  if (dtype != "float32" && dtype != "float64") throw Error(fmt::format("{}: unknown dtype '{}'", source, dtype));
  o.dtype = dtype == "float64" ? DType::f64 : DType::f32;
  return o;
}

}  // namespace tg
