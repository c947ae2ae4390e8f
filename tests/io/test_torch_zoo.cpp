// tapegrad -> torch for the zoo: checkpoints of an LSTM, a GRU, a multi-head
// attention, the SPEC reference Seq2Seq and an nn.Transformer, with their inputs and our outputs,
// for tools/fixtures/check_torch_load_zoo.py (run by the ctest
// torch_loads_tapegrad_checkpoint after this suite) to load into torch.nn
// modules strictly and compare.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "tapegrad.hpp"

using namespace tg;
using json = nlohmann::json;

namespace {

json values(const Tensor& t) {
  return {{"shape", std::vector<std::size_t>(t.shape().begin(), t.shape().end())}, {"data", t.to_vector()}};
}

json ids(const Indices& ids) {
  return {{"shape", std::vector<std::size_t>(ids.shape().begin(), ids.shape().end())},
          {"data", std::vector<std::int64_t>(ids.begin(), ids.end())}};
}

template <class M>
json recurrent_case(const std::filesystem::path& dir, const std::string& name, std::uint64_t seed) {
  Generator gen(seed);
  M rnn({.input_size = 3, .hidden_size = 4, .num_layers = 2, .batch_first = true, .bidirectional = true}, gen);
  const Tensor input = Tensor::normal({3, 5, 3}, 0, 1, seed + 1);
  const std::vector<std::int64_t> lengths{5, 2, 4};
  RNNOutput out = rnn.forward(Var(input), {}, lengths);
  save_checkpoint(rnn, dir / (name + ".safetensors"));
  json c = {{"input", values(input)},
            {"lengths", lengths},
            {"output", values(out.output.value())},
            {"h_n", values(out.state.h.value())}};
  if (out.state.c.defined()) c["c_n"] = values(out.state.c.value());
  return c;
}

}  // namespace

TEST_CASE(
    "tapegrad -> torch: zoo checkpoints (LSTM, GRU, multi-head attention, SPEC Seq2Seq, Transformer) and outputs") {
  const std::filesystem::path dir = TAPEGRAD_IO_OUT_DIR;
  std::filesystem::create_directories(dir);
  json expected;
  expected["lstm"] = recurrent_case<LSTM>(dir, "zoo_lstm", 10);
  expected["gru"] = recurrent_case<GRU>(dir, "zoo_gru", 20);

  Generator gen(30);
  auto mha = make_attention({.kind = AttentionKind::multi_head, .query_size = 6, .key_size = 6, .num_heads = 2}, gen);
  // Non-zero biases, so that loading them matters.
  for (NamedVar& p : mha->named_parameters()) {
    if (p.name.find("bias") != std::string::npos) p.var.mutable_value() = Tensor::uniform(p.var.shape(), -0.5, 0.5, 31);
  }
  const Tensor query = Tensor::normal({2, 6}, 0, 1, 32), keys = Tensor::normal({2, 4, 6}, 0, 1, 33);
  Mask padding = {{false, false, false, true}, {false, false, true, true}};
  AttentionResult r = mha->forward(Var(query), Var(keys), Var(keys), padding);
  save_checkpoint(*mha, dir / "zoo_mha.safetensors");
  expected["mha"] = {{"query", values(query)},
                     {"keys", values(keys)},
                     {"padding", {{"shape", {2, 4}}, {"data", {0, 0, 0, 1, 0, 0, 1, 1}}}},
                     {"context", values(r.context.value())},
                     {"weights", values(r.weights.value())}};

  // The sizes of tools/fixtures/gen_seq2seq_fixtures.py's Reference model (V 9, E 4, H 5).
  Generator s2s_gen(40);
  Seq2Seq model(Seq2SeqOptions::reference(9, 4, 5), s2s_gen);
  const Indices source = {{3, 5, 4, 6, 8}, {6, 3, 7, 0, 0}, {4, 4, 0, 0, 0}};
  const Indices target_in = {{1, 4, 3, 7, 0}, {1, 5, 5, 3, 8}, {1, 6, 0, 0, 0}};
  const Indices target_out = {{4, 3, 7, 2, 0}, {5, 5, 3, 8, 2}, {6, 2, 0, 0, 0}};
  const std::vector<std::int64_t> lengths{5, 3, 2};
  const double loss = model.loss(source, lengths, target_in, target_out).item();
  save_checkpoint(model, dir / "zoo_seq2seq.safetensors", {{"model", "SPEC reference"}});
  expected["seq2seq"] = {{"source", ids(source)},
                         {"lengths", lengths},
                         {"target_in", ids(target_in)},
                         {"target_out", ids(target_out)},
                         {"loss", loss}};

  // nn.Transformer's sizes in tests/fixtures/transformer.json, pre-norm with gelu (the non-default
  // branches), causal target mask and padding on both sides.
  Generator transformer_gen(50);
  Transformer transformer({.d_model = 16,
                           .nhead = 4,
                           .num_encoder_layers = 2,
                           .num_decoder_layers = 2,
                           .dim_feedforward = 32,
                           .dropout = 0.0,
                           .activation = TransformerActivation::gelu,
                           .batch_first = true,
                           .norm_first = true},
                          transformer_gen);
  for (NamedVar& p : transformer.named_parameters()) {  // non-zero biases and LayerNorm weights off 1
    if (p.var.dim() == 1) p.var.mutable_value() = Tensor::uniform(p.var.shape(), 0.5, 1.5, 51);
  }
  const Tensor src = Tensor::normal({2, 5, 16}, 0, 1, 52), tgt = Tensor::normal({2, 4, 16}, 0, 1, 53);
  Mask src_padding = {{false, false, false, false, false}, {false, false, false, true, true}};
  Mask tgt_padding = {{false, false, false, false}, {false, false, true, true}};
  Var out = transformer.forward(Var(src), Var(tgt),
                                {.tgt_mask = Transformer::generate_square_subsequent_mask(4),
                                 .src_key_padding_mask = src_padding,
                                 .tgt_key_padding_mask = tgt_padding,
                                 .memory_key_padding_mask = src_padding});
  save_checkpoint(transformer, dir / "zoo_transformer.safetensors");
  expected["transformer"] = {{"src", values(src)},
                             {"tgt", values(tgt)},
                             {"src_lengths", {5, 3}},
                             {"tgt_lengths", {4, 2}},
                             {"output", values(out.value())}};

  std::ofstream(dir / "zoo.json") << expected.dump(1) << "\n";
  CHECK(std::filesystem::exists(dir / "zoo_seq2seq.safetensors"));
}
