// The model configuration that checkpoints store ("tapegrad.model"): both architectures survive
// their JSON, a recurrent model saved before the Transformer (no "architecture") still loads as
// one, and a Transformer configuration that does not describe its file is refused by name.
#include <doctest/doctest.h>

#include <string>

#include <nlohmann/json.hpp>

#include "tapegrad/io/checkpoint.hpp"
#include "tapegrad/train/check_configuration.hpp"
#include "tapegrad/train/model_config.hpp"

using namespace tg;

namespace {

ModelChoice transformer_choice() {
  ModelChoice c;
  c.architecture = "transformer";
  c.embedding = 8;
  c.heads = 2;
  c.encoder_layers = 3;
  c.decoder_layers = 2;
  c.feedforward = 12;
  c.norm = "pre";
  c.positional = "learned";
  c.activation = "gelu";
  c.dropout = 0.25;
  c.label_smoothing = 0.05;
  c.tie_embeddings = true;
  c.share_embeddings = true;
  return c;
}

// Every tensor of `model`, by name and shape, as a safetensors header lists them.
SafetensorsHeader header_of(const Module& model) {
  SafetensorsHeader header;
  for (const NamedVar& p : model.named_parameters()) {
    SafetensorsEntry e;
    e.name = p.name;
    const Shape shape = p.var.value().shape();
    e.shape.assign(shape.begin(), shape.end());
    e.elements = p.var.value().size();
    header.tensors.push_back(e);
  }
  return header;
}

}  // namespace

TEST_CASE("a Transformer's configuration survives its JSON, every choice included") {
  const ModelOptions options = make_options(transformer_choice(), 11, 11);
  REQUIRE(std::holds_alternative<TransformerSeq2SeqOptions>(options));
  const std::string json = options_to_json(options);
  CHECK(nlohmann::json::parse(json).at("architecture") == "transformer");
  const ModelOptions back = options_from_json(json, "m.safetensors");
  REQUIRE(std::holds_alternative<TransformerSeq2SeqOptions>(back));
  const TransformerSeq2SeqOptions& o = std::get<TransformerSeq2SeqOptions>(back);
  CHECK(o.source_vocab_size == 11);
  CHECK(o.target_vocab_size == 11);
  CHECK(o.transformer.d_model == 8);
  CHECK(o.transformer.nhead == 2);
  CHECK(o.transformer.num_encoder_layers == 3);
  CHECK(o.transformer.num_decoder_layers == 2);
  CHECK(o.transformer.dim_feedforward == 12);
  CHECK(o.transformer.norm_first);
  CHECK(o.transformer.activation == TransformerActivation::gelu);
  CHECK(o.transformer.dropout == 0.25);
  CHECK(o.positional == PositionalKind::learned);
  CHECK(o.label_smoothing == 0.05);
  CHECK(o.tie_output);
  CHECK(o.share_embeddings);
  CHECK(options_to_json(back) == json);
  // The default feed-forward size is 4 x d_model.
  ModelChoice c = transformer_choice();
  c.feedforward = 0;
  CHECK(std::get<TransformerSeq2SeqOptions>(make_options(c, 11, 11)).transformer.dim_feedforward == 32);
}

TEST_CASE("a recurrent configuration survives its JSON and says its architecture") {
  ModelChoice c;
  c.cell = "gru";
  c.hidden = 6;
  c.attention = "multi_head";
  c.heads = 3;
  const ModelOptions options = make_options(c, 9, 7);
  REQUIRE(std::holds_alternative<Seq2SeqOptions>(options));
  const std::string json = options_to_json(options);
  CHECK(nlohmann::json::parse(json).at("architecture") == "rnn");
  const ModelOptions back = options_from_json(json, "m.safetensors");
  REQUIRE(std::holds_alternative<Seq2SeqOptions>(back));
  const Seq2SeqOptions& o = std::get<Seq2SeqOptions>(back);
  CHECK(o.cell == RecurrentKind::gru);
  CHECK(o.hidden_size == 6);
  CHECK(o.attention.kind == AttentionKind::multi_head);
  CHECK(o.attention.num_heads == 3);
  CHECK(options_to_json(back) == json);
}

TEST_CASE("a recurrent configuration saved before the Transformer (no architecture) loads as recurrent") {
  // What options_to_json wrote before the architecture was stored, as old checkpoints hold it.
  const std::string old_json =
      R"({"source_vocab_size":10,"target_vocab_size":10,"embedding_size":12,"hidden_size":10,)"
      R"("decoder_hidden_size":20,"cell":"lstm","encoder_layers":2,"decoder_layers":1,"bidirectional":true,)"
      R"("dropout":0.3,"bridge":"identity","attention":"general","attention_size":0,"num_heads":4,)"
      R"("attention_bias":true,"tie_embeddings":false,"label_smoothing":0.1,"sampling_probability":0.0,)"
      R"("sampling_seed":0,"pad_id":0,"bos_id":1,"eos_id":2,"dtype":"float32"})";
  const ModelOptions options = options_from_json(old_json, "old.safetensors");
  REQUIRE(std::holds_alternative<Seq2SeqOptions>(options));
  const Seq2SeqOptions& o = std::get<Seq2SeqOptions>(options);
  CHECK(o.embedding_size == 12);
  CHECK(o.hidden_size == 10);
  CHECK(o.bidirectional);
  CHECK(o.dropout == 0.3);
  CHECK(std::string(architecture_name(options)) == "rnn");
  // Written back, it is the same with its architecture named.
  nlohmann::json expected = nlohmann::json::parse(old_json);
  expected["architecture"] = "rnn";
  CHECK(nlohmann::json::parse(options_to_json(options)) == expected);
}

TEST_CASE("a configuration's architecture and fields are checked by name") {
  auto json = nlohmann::json::parse(options_to_json(make_options(transformer_choice(), 11, 11)));
  json["architecture"] = "cnn";
  CHECK_THROWS_WITH_AS(options_from_json(json.dump(), "m.safetensors"),
                       "m.safetensors: the model configuration's 'architecture' is 'cnn', not rnn or transformer",
                       Error);
  json["architecture"] = "transformer";
  json.erase("nhead");
  CHECK_THROWS_WITH_AS(options_from_json(json.dump(), "m.safetensors"),
                       "m.safetensors: the model configuration has no 'nhead'", Error);
  json["nhead"] = 2;
  json["positional"] = "rotary";
  CHECK_THROWS_AS(options_from_json(json.dump(), "m.safetensors"), Error);
}

TEST_CASE("check_configuration refuses a Transformer configuration that does not describe the file, by name") {
  ModelChoice c = transformer_choice();
  c.share_embeddings = false;
  const ModelOptions options = make_options(c, 11, 9);
  Generator gen(1);
  const std::unique_ptr<SequenceModel> model = make_model(options, gen);
  const SafetensorsHeader header = header_of(*model);
  CHECK_NOTHROW(check_configuration(options, header, "m.safetensors"));
  CHECK(parameter_count_of(options) == double(model->parameter_count()));

  auto edited = [&](auto edit) {
    ModelOptions o = options;
    edit(std::get<TransformerSeq2SeqOptions>(o));
    return o;
  };
  CHECK_THROWS_WITH_AS(
      check_configuration(edited([](auto& o) { o.transformer.d_model = 16; }), header, "m.safetensors"),
      "m.safetensors: the model configuration's d_model is 16, but tensor 'source_embedding.weight' is [11, 8]",
      CheckpointError);
  CHECK_THROWS_WITH_AS(
      check_configuration(edited([](auto& o) { o.transformer.num_encoder_layers = 100000000; }), header,
                          "m.safetensors"),
      "m.safetensors: the model configuration's num_encoder_layers is 100000000, but the file holds 3 encoder layers",
      CheckpointError);
  CHECK_THROWS_WITH_AS(
      check_configuration(edited([](auto& o) { o.transformer.dim_feedforward = 4000000; }), header, "m.safetensors"),
      "m.safetensors: the model configuration's dim_feedforward is 4000000, but tensor "
      "'transformer.encoder.layers.0.linear1.weight' is [12, 8]",
      CheckpointError);
  CHECK_THROWS_AS(
      check_configuration(edited([](auto& o) { o.positional = PositionalKind::sinusoidal; }), header, "m.safetensors"),
      CheckpointError);
  CHECK_THROWS_WITH_AS(check_configuration(edited([](auto& o) { o.transformer.nhead = 3; }), header, "m.safetensors"),
                       doctest::Contains("m.safetensors: the model configuration is not valid"), Error);
}
