// Dynamic quantization of models (models/quantize.hpp, ops/quantized_weights.hpp): which weights,
// where the int8 products run (nothing recorded) and where they do not, on any thread, and
// whole models decoding close to their float selves.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <thread>
#include <vector>

#include "fixtures.hpp"
#include "tapegrad.hpp"

using namespace tg;

namespace {

Seq2SeqOptions small_model(RecurrentKind cell, AttentionKind kind) {
  Seq2SeqOptions o;
  o.source_vocab_size = 11;
  o.target_vocab_size = 9;
  o.embedding_size = 8;
  o.hidden_size = 16;
  o.cell = cell;
  o.attention.kind = kind;
  o.attention.attention_size = 8;
  o.attention.num_heads = 2;
  return o;
}

struct SmallBatch {
  Indices source;
  std::vector<std::int64_t> lengths;
  Indices target_in, target_out;
};

SmallBatch small_batch() {
  SmallBatch b;
  b.source = Indices{{3, 4, 5, 6, 7}, {8, 9, 10, 3, 0}, {5, 5, 4, 0, 0}};
  b.lengths = {5, 4, 3};
  b.target_in = Indices{{1, 4, 3, 6}, {1, 5, 5, 3}, {1, 7, 8, 0}};
  b.target_out = Indices{{4, 3, 6, 2}, {5, 5, 3, 2}, {7, 8, 2, 0}};
  return b;
}

// A weight of tests/fixtures/quantized.json: PyTorch's int8 values and scales.
Int8Matrix int8_of(const nlohmann::json& w, const std::string& name) {
  const Shape shape = test::shape_of(w.at("int8"));
  std::vector<std::int8_t> values;
  for (double v : w.at("int8").at("data").get<std::vector<double>>()) values.push_back(static_cast<std::int8_t>(v));
  std::vector<float> scales;
  for (double v : w.at("scales").get<std::vector<double>>()) scales.push_back(static_cast<float>(v));
  return int8_matrix(std::move(values), std::move(scales), shape[0], shape[1], name.c_str());
}

double worst_difference(const Tensor& got, const nlohmann::json& want) {
  const std::vector<double> g = got.to_vector(), w = want.at("data").get<std::vector<double>>();
  REQUIRE(g.size() == w.size());
  double worst = 0;
  for (std::size_t i = 0; i < g.size(); ++i) worst = std::max(worst, std::abs(g[i] - w[i]));
  return worst;
}

std::vector<float> values_of(const Var& v) {
  const float* p = v.value().array<float>().data();
  return std::vector<float>(p, p + v.size());
}

}  // namespace

TEST_CASE("quantizable_weights: the matrices that products multiply, tables only when asked") {
  Generator gen(1);
  Seq2SeqOptions o = small_model(RecurrentKind::lstm, AttentionKind::general);
  o.encoder_layers = 2;
  o.bidirectional = true;
  Seq2Seq m(o, gen);
  std::vector<std::string> names;
  for (const NamedVar& p : quantizable_weights(m, false)) names.push_back(p.name);
  for (const char* wanted : {"encoder.rnn.weight_ih_l0", "encoder.rnn.weight_hh_l1_reverse"}) {
    CHECK(std::find(names.begin(), names.end(), wanted) != names.end());
  }
  for (const std::string& n : names) {
    CAPTURE(n);
    CHECK(n.find("embedding") == std::string::npos);
    CHECK(n.find("bias") == std::string::npos);
  }
  std::size_t matrices = 0, tables = 0;
  for (const NamedVar& p : m.named_parameters()) {
    if (p.var.dim() == 2) (p.name.find("embedding") != std::string::npos ? tables : matrices) += 1;
  }
  CHECK(names.size() == matrices);
  CHECK(quantizable_weights(m, true).size() == matrices + tables);
  CHECK(tables == 2);
}

TEST_CASE("quantize_dynamic: int8 products where nothing is recorded, the dequantized floats where gradients are") {
  Generator gen(2);
  Linear layer({.in_features = 33, .out_features = 17}, gen);
  const std::vector<float> original = values_of(layer.weight);
  Var x(Tensor::normal({9, 33}, 0.3, 1.0, 5, DType::f32));

  auto int8 = quantize_dynamic(layer);
  REQUIRE(int8->size() == 1);
  const Int8Matrix* q = int8->find(layer.weight);
  REQUIRE(q != nullptr);
  // The weight's value is its int8 copy's float value, within half a scale of the original.
  std::vector<float> dequantized(17 * 33);
  dequantize(*q, dequantized.data());
  CHECK(values_of(layer.weight) == dequantized);
  // Half a scale at most: the largest |w| lies 127.5 scales out, half a scale past the clamp at
  // 127, where the scale's own rounding (2^-24 relative) counts 254 times over: 1.5e-5 of the bound.
  for (std::size_t i = 0; i < original.size(); ++i) {
    CHECK(std::abs(original[i] - dequantized[i]) <= q->scale(i / 33) / 2 * (1 + 3e-5));
  }

  // Recorded: the float product with the dequantized weight, bit for bit.
  const Var plain(layer.weight.value());
  const std::vector<float> recorded = values_of(layer.forward(x));
  CHECK(recorded == values_of(linear(x, plain, Var(layer.bias.value()))));

  // Nothing recorded: the int8 product plus the bias, bit for bit, and not the float product.
  std::vector<float> expected(9 * 17);
  for (std::size_t r = 0; r < 9; ++r) {
    std::copy_n(layer.bias.value().array<float>().data(), 17, expected.data() + r * 17);
  }
  int8_times_weight_t(9, x.value().array<float>().data(), *q, ActivationQuantization::per_row, true, expected.data());
  std::vector<float> unrecorded;
  {
    NoGradGuard no_grad;
    unrecorded = values_of(layer.forward(x));
  }
  CHECK(unrecorded == expected);
  CHECK(unrecorded != recorded);
  double worst = 0;
  for (std::size_t i = 0; i < recorded.size(); ++i)
    worst = std::max(worst, double(std::abs(unrecorded[i] - recorded[i])));
  CHECK(worst < 0.05);

  // On another thread too (decoding workers).
  std::vector<float> elsewhere;
  std::thread worker([&] {
    NoGradGuard no_grad;
    elsewhere = values_of(layer.forward(x));
  });
  worker.join();
  CHECK(elsewhere == expected);

  // Without the copies, the float product again.
  int8.reset();
  NoGradGuard no_grad;
  CHECK(values_of(layer.forward(x)) == recorded);
}

TEST_CASE("QuantizedWeights refuses what is not a float32 leaf of the copy's shape, and a second copy") {
  Generator gen(3);
  Linear layer({.in_features = 4, .out_features = 3}, gen);
  const std::vector<float> w(12, 0.5f);
  QuantizedWeights first;
  CHECK_THROWS_WITH_AS(
      first.add(layer.weight, quantize_symmetric(w.data(), 4, 3, true)),
      doctest::Contains("'weight' must be a float32 leaf [4, 3] for its int8 copy, not float32 [3, 4]"), Error);
  first.add(layer.weight, quantize_symmetric(w.data(), 3, 4, true));
  QuantizedWeights second;
  CHECK_THROWS_WITH_AS(second.add(layer.weight, quantize_symmetric(w.data(), 3, 4, true)),
                       doctest::Contains("'weight' already has an int8 copy"), Error);
  Var f64(Tensor::zeros({3, 4}, DType::f64));
  CHECK_THROWS_WITH_AS(second.add(f64, quantize_symmetric(w.data(), 3, 4, true)),
                       doctest::Contains("not float64 [3, 4]"), Error);
}

TEST_CASE("a quantized Seq2Seq scores its batch close to its float model, for every cell and attention") {
  for (RecurrentKind cell : {RecurrentKind::lstm, RecurrentKind::gru}) {
    for (AttentionKind kind : {AttentionKind::additive, AttentionKind::general, AttentionKind::multi_head}) {
      CAPTURE(int(cell));
      CAPTURE(int(kind));
      Generator gen(4);
      Seq2SeqOptions o = small_model(cell, kind);
      o.bidirectional = true;
      Seq2Seq m(o, gen);
      m.eval();
      const SmallBatch b = small_batch();
      NoGradGuard no_grad;
      auto int8 = quantize_dynamic(m);
      const double quantized = m.loss(b.source, b.lengths, b.target_in, b.target_out).item();
      std::unique_ptr<QuantizedWeights> gone = std::move(int8);
      gone.reset();
      const double dequantized =
          m.loss(b.source, b.lengths, b.target_in, b.target_out).item();  // the same weights in float products
      CHECK(quantized != dequantized);
      CHECK(std::abs(quantized - dequantized) < 0.01 * std::abs(dequantized));
    }
  }
}

TEST_CASE("quantize_dynamic names the weight that holds a value it cannot quantize") {
  Generator gen(5);
  Linear layer({.in_features = 2, .out_features = 2}, gen);
  layer.weight.mutable_value().array<float>().data()[3] = INFINITY;
  CHECK_THROWS_WITH_AS(
      quantize_dynamic(layer),
      doctest::Contains("quantize_dynamic: 'weight': quantize: weight [2, 2] holds inf at row 1, column 1"), Error);
}

TEST_CASE("quantized Linear equals PyTorch's quantize_dynamic to 1e-4, with its int8 weights and scales (fixtures)") {
  const nlohmann::json f = test::load_fixtures("quantized.json");
  for (const nlohmann::json& c : f.at("linear")) {
    CAPTURE(c.at("name").get<std::string>());
    const std::size_t in = c.at("in_features"), out = c.at("out_features");
    Linear layer({.in_features = in, .out_features = out, .bias = c.at("biases").contains("bias")});
    if (layer.options().bias) layer.bias.mutable_value() = test::tensor_of(c.at("biases").at("bias"), DType::f32);
    QuantizedWeights int8(ActivationQuantization::per_tensor);
    const Int8Matrix q = int8_of(c.at("weights").at("weight"), "weight");
    dequantize(q, layer.weight.mutable_value().array<float>().data());
    int8.add(layer.weight, q);
    for (const nlohmann::json& call : c.at("calls")) {
      CAPTURE(call.at("kind").get<std::string>());
      const Tensor x = test::tensor_of(call.at("input"), DType::f32);
      // The activations' scale and zero point as PyTorch chose them for the whole input.
      const auto [low, high] = fast::range_with_zero(x.array<float>().data(), x.size());
      const ActivationScale a = choose_activation_scale(low, high);
      CHECK(a.scale == doctest::Approx(call.at("input_scale").get<double>()).epsilon(1e-6));
      CHECK(a.zero_point == call.at("input_zero_point").get<int>());
      NoGradGuard no_grad;
      const Var y = layer.forward(Var(x));
      CHECK(y.shape() == test::shape_of(call.at("output")));
      CHECK(worst_difference(y.value(), call.at("output")) <= 1e-4);
    }
  }
}

TEST_CASE("quantize_symmetric gives PyTorch's int8 weights and scales from the float weights (fixtures)") {
  const nlohmann::json f = test::load_fixtures("quantized.json");
  std::size_t weights = 0;
  auto check = [&](const nlohmann::json& w, bool per_channel) {
    const Shape shape = test::shape_of(w.at("float"));
    const Tensor values = test::tensor_of(w.at("float"), DType::f32);
    const Int8Matrix mine = quantize_symmetric(values.array<float>().data(), shape[0], shape[1], per_channel);
    const Int8Matrix torch = int8_of(w, "weight");
    CHECK(mine.values == torch.values);
    CHECK(mine.scales == torch.scales);
    ++weights;
  };
  for (const nlohmann::json& c : f.at("linear")) check(c.at("weights").at("weight"), c.at("qscheme") == "per_channel");
  for (const nlohmann::json& c : f.at("rnn")) {
    for (const auto& [name, w] : c.at("weights").items()) check(w, true);
  }
  CHECK(weights == 3 + 2 * 8);
}

TEST_CASE("quantized LSTM and GRU equal PyTorch's quantize_dynamic to 1e-4, with its int8 weights (fixtures)") {
  const nlohmann::json f = test::load_fixtures("quantized.json");
  for (const nlohmann::json& c : f.at("rnn")) {
    const std::string kind = c.at("kind");
    CAPTURE(kind);
    const RNNOptions o{.input_size = c.at("input_size"),
                       .hidden_size = c.at("hidden_size"),
                       .num_layers = c.at("num_layers"),
                       .batch_first = c.at("batch_first"),
                       .bidirectional = c.at("bidirectional")};
    std::unique_ptr<RNNBase> rnn = make_rnn(kind == "lstm" ? RecurrentKind::lstm : RecurrentKind::gru, o);
    QuantizedWeights int8(ActivationQuantization::per_tensor);
    for (const auto& [name, bias] : c.at("biases").items()) {
      const_cast<Var&>(rnn->parameter(name)).mutable_value() = test::tensor_of(bias, DType::f32);
    }
    for (const auto& [name, w] : c.at("weights").items()) {
      Var weight = rnn->parameter(name);
      const Int8Matrix q = int8_of(w, name);
      dequantize(q, weight.mutable_value().array<float>().data());
      int8.add(weight, q);
    }
    CHECK(int8.size() == 4 * o.num_layers);
    NoGradGuard no_grad;
    const RNNOutput out = rnn->forward(Var(test::tensor_of(c.at("input"), DType::f32)));
    CHECK(worst_difference(out.output.value(), c.at("output")) <= 1e-4);
    CHECK(worst_difference(out.state.h.value(), c.at("h_n")) <= 1e-4);
    if (kind == "lstm") CHECK(worst_difference(out.state.c.value(), c.at("c_n")) <= 1e-4);
    // The float model is further away: the comparison sees the quantization.
    CHECK(worst_difference(out.output.value(), c.at("float_output")) > 1e-4);
  }
}

TEST_CASE("a quantized Transformer scores its batch close to its float model, positions and tables left out") {
  TransformerSeq2SeqOptions o;
  o.source_vocab_size = 11;
  o.target_vocab_size = 9;
  o.transformer = {.d_model = 16,
                   .nhead = 2,
                   .num_encoder_layers = 2,
                   .num_decoder_layers = 2,
                   .dim_feedforward = 24,
                   .dropout = 0.0};
  o.positional = PositionalKind::learned;
  o.max_length = 12;
  Generator gen(6);
  TransformerSeq2Seq m(o, gen);
  m.eval();
  std::size_t matrices = 0;
  for (const NamedVar& p : quantizable_weights(m, false)) {
    CAPTURE(p.name);
    CHECK(p.name.find("positions") == std::string::npos);
    CHECK(p.name.find("embedding") == std::string::npos);
    ++matrices;
  }
  CHECK(matrices ==
        2 * 4 + 2 * 6 + 1);  // encoder layers: in_proj, out_proj, linear1, linear2; decoder: two attentions more
  const SmallBatch b = small_batch();
  NoGradGuard no_grad;
  auto int8 = quantize_dynamic(m);
  const double quantized = m.loss(b.source, b.lengths, b.target_in, b.target_out).item();
  int8.reset();
  const double dequantized = m.loss(b.source, b.lengths, b.target_in, b.target_out).item();
  CHECK(quantized != dequantized);
  CHECK(std::abs(quantized - dequantized) < 0.01 * std::abs(dequantized));
}
