#include <doctest/doctest.h>

#include <cmath>
#include <string>
#include <vector>

#include <xtensor/xview.hpp>

#include "fixtures.hpp"
#include "ops/check.hpp"
#include "tapegrad/autodiff/mode.hpp"
#include "tapegrad/models/seq2seq.hpp"
#include "tapegrad/ops/activation.hpp"
#include "tapegrad/ops/elementwise.hpp"
#include "tapegrad/ops/index.hpp"
#include "tapegrad/ops/linalg.hpp"
#include "tapegrad/ops/loss.hpp"
#include "tapegrad/ops/reduce.hpp"
#include "tapegrad/ops/shape.hpp"
#include "tapegrad/ops/softmax.hpp"
#include "tapegrad/optim/adam.hpp"

using namespace tg;

namespace {

/// A batch with source padding (lengths 4 and 2) and target padding (3 and 4 tokens).
struct TinyBatch {
  Indices source;
  std::vector<std::int64_t> lengths;
  Indices target_in;
  Indices target_out;
};

// Real tokens are >= 3: 0 pad, 1 BOS, 2 EOS.
TinyBatch tiny_batch() {
  TinyBatch b;
  b.source = Indices{{3, 5, 4, 6}, {6, 3, 0, 0}};
  b.lengths = {4, 2};
  b.target_in = Indices{{1, 4, 3, 0}, {1, 5, 5, 3}};
  b.target_out = Indices{{4, 3, 2, 0}, {5, 5, 3, 2}};
  return b;
}

Seq2SeqOptions tiny(RecurrentKind cell, AttentionKind kind) {
  Seq2SeqOptions o;
  o.source_vocab_size = 7;
  o.target_vocab_size = 6;
  o.embedding_size = 3;
  o.hidden_size = 4;
  o.cell = cell;
  o.attention.kind = kind;
  o.attention.attention_size = 3;
  o.attention.num_heads = 2;
  return o;
}

/// The float64 twin of a model built from `o`, in eval mode.
std::unique_ptr<Seq2Seq> f64_model(const Seq2SeqOptions& o, std::uint64_t seed) {
  Generator gen(seed);
  Seq2Seq m(o, gen);
  m.eval();
  return copy_as(m, DType::f64);
}

void check_loss_gradcheck(const Seq2SeqOptions& o, std::uint64_t seed = 1) {
  auto m = f64_model(o, seed);
  const TinyBatch b = tiny_batch();
  GradcheckReport report =
      gradcheck(*m, [&](const std::vector<Var>&) { return m->loss(b.source, b.lengths, b.target_in, b.target_out); });
  INFO(report.message());
  CHECK(report.passed);
}

/// sum(grad . d) against (L(p + eps d) - L(p - eps d)) / 2 eps along random directions d over
/// every parameter at once, at gradcheck's tolerances.
void check_directional_derivatives(const Seq2SeqOptions& o, std::uint64_t seed) {
  auto m = f64_model(o, seed);
  const TinyBatch b = tiny_batch();
  auto loss = [&] { return m->loss(b.source, b.lengths, b.target_in, b.target_out); };
  const std::vector<NamedVar> params = m->named_parameters();
  m->zero_grad();
  loss().backward();
  std::vector<Tensor> base;
  for (const NamedVar& p : params) {
    INFO(p.name);
    REQUIRE(p.var.grad().defined());  // every parameter takes part in the loss
    base.push_back(p.var.value());
  }
  const double eps = 1e-6, atol = 1e-5, rtol = 1e-3;
  for (std::uint64_t direction = 0; direction < 3; ++direction) {
    std::vector<Tensor> d;
    double analytic = 0.0;
    for (std::size_t i = 0; i < params.size(); ++i) {
      d.push_back(test::randn(params[i].var.shape(), 100 * seed + 10 * direction + i));
      const std::vector<double> g = params[i].var.grad().to_vector(), di = d.back().to_vector();
      for (std::size_t j = 0; j < g.size(); ++j) analytic += g[j] * di[j];
    }
    auto loss_at = [&](double step) {
      for (std::size_t i = 0; i < params.size(); ++i) {
        Tensor p = base[i];
        const std::vector<double> di = d[i].to_vector();
        for (std::size_t j = 0; j < di.size(); ++j) p.set(j, base[i].at(j) + step * di[j]);
        Var slot = params[i].var;
        slot.mutable_value() = p;
      }
      NoGradGuard no_grad;
      return loss().item();
    };
    const double numeric = (loss_at(eps) - loss_at(-eps)) / (2 * eps);
    for (std::size_t i = 0; i < params.size(); ++i) {
      Var slot = params[i].var;
      slot.mutable_value() = base[i];
    }
    INFO("direction " << direction << ": analytic " << analytic << ", numeric " << numeric);
    CHECK(std::abs(analytic - numeric) <= atol + rtol * std::abs(numeric));
  }
}

std::vector<std::string> names_of(const Module& m) {
  std::vector<std::string> names;
  for (const NamedVar& p : m.named_parameters()) names.push_back(p.name);
  return names;
}

/// Loss and every gradient of a model on a batch.
struct LossAndGrads {
  double loss;
  std::vector<std::vector<double>> grads;
};

LossAndGrads loss_and_grads(Seq2Seq& m, const TinyBatch& b) {
  m.zero_grad();
  Var l = m.loss(b.source, b.lengths, b.target_in, b.target_out);
  l.backward();
  LossAndGrads out{l.item(), {}};
  for (const Var& p : m.parameters())
    out.grads.push_back(p.grad().defined() ? p.grad().to_vector() : std::vector<double>{});
  return out;
}

void check_same(const LossAndGrads& a, const LossAndGrads& b) {
  CHECK(a.loss == doctest::Approx(b.loss).epsilon(1e-12));
  REQUIRE(a.grads.size() == b.grads.size());
  for (std::size_t i = 0; i < a.grads.size(); ++i) {
    REQUIRE(a.grads[i].size() == b.grads[i].size());
    for (std::size_t j = 0; j < a.grads[i].size(); ++j)
      CHECK(a.grads[i][j] == doctest::Approx(b.grads[i][j]).epsilon(1e-10));
  }
}

/// ids [B, T] with `extra` more columns of pad_id.
Indices padded(const Indices& ids, std::size_t extra) {
  Indices out = xt::zeros<std::int64_t>(std::vector<std::size_t>{ids.shape()[0], ids.shape()[1] + extra});
  xt::view(out, xt::all(), xt::range(0, ids.shape()[1])) = ids;
  return out;
}

}  // namespace

TEST_CASE("Seq2Seq: the SPEC reference configuration and its parameter names and shapes") {
  Seq2SeqOptions o = Seq2SeqOptions::reference(11, 5, 6);
  Seq2Seq m(o);
  std::vector<std::pair<std::string, Shape>> expected = {{"encoder.embedding.weight", {11, 5}},
                                                         {"encoder.rnn.weight_ih_l0", {24, 5}},
                                                         {"encoder.rnn.weight_hh_l0", {24, 6}},
                                                         {"encoder.rnn.bias_ih_l0", {24}},
                                                         {"encoder.rnn.bias_hh_l0", {24}},
                                                         {"decoder.embedding.weight", {11, 5}},
                                                         {"decoder.cells.0.weight_ih", {24, 11}},
                                                         {"decoder.cells.0.weight_hh", {24, 6}},
                                                         {"decoder.cells.0.bias_ih", {24}},
                                                         {"decoder.cells.0.bias_hh", {24}},
                                                         {"decoder.attention.v", {6}},
                                                         {"decoder.attention.query_proj.weight", {6, 6}},
                                                         {"decoder.attention.query_proj.bias", {6}},
                                                         {"decoder.attention.key_proj.weight", {6, 6}},
                                                         {"decoder.output.weight", {11, 12}},
                                                         {"decoder.output.bias", {11}}};
  const std::vector<NamedVar> params = m.named_parameters();
  REQUIRE(params.size() == expected.size());
  for (std::size_t i = 0; i < params.size(); ++i) {
    CHECK(params[i].name == expected[i].first);
    CHECK(params[i].var.shape() == expected[i].second);
    CHECK(params[i].var.name() == expected[i].first);
  }
  CHECK(m.options().bridge == BridgeKind::identity);
  CHECK(m.options().pad_id == 0);
  CHECK(m.options().dropout == 0.0);
  CHECK(m.options().attention.kind == AttentionKind::additive);
}

TEST_CASE("Seq2Seq: the reference model computes SPEC's equations") {
  // SPEC.md written out with primitive ops from the model's own parameters: an LSTM encoder,
  // K = h W_h, x_t = [emb(y_{t-1}); c_{t-1}], s_t = LSTMCell, e = v . tanh(K + W_s s + b_s),
  // logits = W_o [s; c] + b_o, mean cross entropy over non-padding targets.
  Generator gen(3);
  Seq2Seq built(Seq2SeqOptions::reference(7, 3, 4), gen);
  auto m = copy_as(built, DType::f64);
  m->eval();
  TinyBatch b = tiny_batch();
  b.source = Indices{{3, 5, 4, 6}, {5, 3, 4, 4}};  // no source padding: the encoder loop stays plain
  b.lengths = {4, 4};
  auto p = [&](const std::string& name) {
    for (const NamedVar& nv : m->named_parameters()) {
      if (nv.name == name) return nv.var;
    }
    FAIL("no parameter " << name);
    return Var();
  };
  auto lstm_step = [](const Var& x, const Var& h, const Var& c, const Var& w_ih, const Var& w_hh, const Var& b_ih,
                      const Var& b_hh) {
    Var gates = linear(x, w_ih, b_ih) + linear(h, w_hh, b_hh);
    std::vector<Var> g = chunk(gates, 4, 1);  // i, f, g, o
    Var c_next = sigmoid(g[1]) * c + sigmoid(g[0]) * tanh(g[2]);
    return std::make_pair(sigmoid(g[3]) * tanh(c_next), c_next);
  };
  const std::size_t batch = 2, steps = 4, hidden = 4;
  Var zeros(Tensor::zeros({batch, hidden}, DType::f64));
  Var emb_src = embedding(p("encoder.embedding.weight"), b.source);  // [B, S, E]
  Var h = zeros, c = zeros;
  std::vector<Var> encoder_states;
  for (std::size_t t = 0; t < steps; ++t) {
    Var x = reshape(slice(emb_src, 1, static_cast<long>(t), static_cast<long>(t) + 1), {batch, std::size_t{3}});
    std::tie(h, c) = lstm_step(x, h, c, p("encoder.rnn.weight_ih_l0"), p("encoder.rnn.weight_hh_l0"),
                               p("encoder.rnn.bias_ih_l0"), p("encoder.rnn.bias_hh_l0"));
    encoder_states.push_back(h);
  }
  Var enc = stack(encoder_states, 1);                              // [B, S, H]
  Var keys = linear(enc, p("decoder.attention.key_proj.weight"));  // K = h W_h
  Var context(Tensor::zeros({batch, hidden}, DType::f64));
  std::vector<Var> logits;
  for (std::size_t t = 0; t < 4; ++t) {
    Indices y = xt::view(b.target_in, xt::all(), t);
    Var x = concat({embedding(p("decoder.embedding.weight"), y), context}, 1);
    std::tie(h, c) = lstm_step(x, h, c, p("decoder.cells.0.weight_ih"), p("decoder.cells.0.weight_hh"),
                               p("decoder.cells.0.bias_ih"), p("decoder.cells.0.bias_hh"));
    Var q = linear(h, p("decoder.attention.query_proj.weight"), p("decoder.attention.query_proj.bias"));
    Var e = sum(tanh(keys + unsqueeze(q, 1)) * p("decoder.attention.v"), -1);  // [B, S]
    Var alpha = softmax(e, -1);
    context = sum(unsqueeze(alpha, 2) * enc, 1);
    logits.push_back(linear(concat({h, context}, 1), p("decoder.output.weight"), p("decoder.output.bias")));
  }
  Var expected = cross_entropy(stack(logits, 1), b.target_out, {.ignore_index = 0});
  Var got = m->loss(b.source, b.lengths, b.target_in, b.target_out);
  CHECK(got.item() == doctest::Approx(expected.item()).epsilon(1e-12));
}

TEST_CASE("Seq2Seq: float64 gradcheck of the whole loss, LSTM and GRU, every attention kind") {
  for (RecurrentKind cell : {RecurrentKind::lstm, RecurrentKind::gru}) {
    for (AttentionKind kind : {AttentionKind::additive, AttentionKind::dot, AttentionKind::general,
                               AttentionKind::scaled_dot, AttentionKind::multi_head}) {
      const std::string label =
          std::string(attention_kind_name(kind)) + (cell == RecurrentKind::lstm ? " lstm" : " gru");
      INFO(label);
      check_loss_gradcheck(tiny(cell, kind));
    }
  }
}

TEST_CASE("Seq2Seq: gradcheck with a bidirectional 2-layer encoder, bridges, 2 decoder layers") {
  SUBCASE("identity bridge (H_d = 2 H_e), LSTM") {
    Seq2SeqOptions o = tiny(RecurrentKind::lstm, AttentionKind::additive);
    o.hidden_size = 2;
    o.bidirectional = true;
    o.encoder_layers = 2;
    o.decoder_layers = 2;
    check_loss_gradcheck(o);
  }
  SUBCASE("linear bridge to another size, GRU, decoder deeper than the encoder") {
    Seq2SeqOptions o = tiny(RecurrentKind::gru, AttentionKind::general);
    o.hidden_size = 2;
    o.decoder_hidden_size = 3;
    o.bidirectional = true;
    o.encoder_layers = 2;
    o.decoder_layers = 3;
    o.bridge = BridgeKind::linear;
    check_loss_gradcheck(o);
  }
  SUBCASE("linear bridge, LSTM, decoder shallower than the encoder") {
    Seq2SeqOptions o = tiny(RecurrentKind::lstm, AttentionKind::multi_head);
    o.hidden_size = 2;
    o.bidirectional = true;
    o.encoder_layers = 2;
    o.bridge = BridgeKind::linear;
    check_loss_gradcheck(o);
  }
  SUBCASE("zeros bridge") {
    Seq2SeqOptions o = tiny(RecurrentKind::lstm, AttentionKind::dot);
    o.bridge = BridgeKind::zeros;
    check_loss_gradcheck(o);
  }
}

TEST_CASE("Seq2Seq: tied embeddings (one parameter) with label smoothing, gradcheck") {
  Seq2SeqOptions o = tiny(RecurrentKind::lstm, AttentionKind::additive);
  o.hidden_size = 2;
  o.embedding_size = 4;  // = H_d + C = 2 + 2
  o.tie_embeddings = true;
  o.label_smoothing = 0.1;
  Seq2Seq m(o);
  std::vector<std::string> names = names_of(m);
  CHECK(std::find(names.begin(), names.end(), "decoder.output.weight") == names.end());
  CHECK(std::find(names.begin(), names.end(), "decoder.output_bias") != names.end());
  check_loss_gradcheck(o);
  check_directional_derivatives(o, 5);

  o.embedding_size = 3;
  CHECK_THROWS_AS(Seq2Seq{o}, ShapeError);
}

TEST_CASE("Seq2Seq: directional derivatives of the loss over all parameters") {
  check_directional_derivatives(Seq2SeqOptions::reference(7, 3, 4), 1);
  Seq2SeqOptions o = tiny(RecurrentKind::gru, AttentionKind::multi_head);
  o.bidirectional = true;
  o.encoder_layers = 2;
  o.decoder_layers = 2;
  o.bridge = BridgeKind::linear;
  o.decoder_hidden_size = 4;
  check_directional_derivatives(o, 2);
  check_directional_derivatives(tiny(RecurrentKind::lstm, AttentionKind::scaled_dot), 3);
}

TEST_CASE("Seq2Seq: padded target and source positions change neither loss nor gradients") {
  auto m = f64_model(tiny(RecurrentKind::lstm, AttentionKind::additive), 7);
  const TinyBatch b = tiny_batch();
  const LossAndGrads base = loss_and_grads(*m, b);

  TinyBatch more = b;
  more.target_in = padded(b.target_in, 3);
  more.target_out = padded(b.target_out, 3);
  check_same(base, loss_and_grads(*m, more));

  TinyBatch source_padded = b;
  source_padded.source = padded(b.source, 2);
  check_same(base, loss_and_grads(*m, source_padded));

  // Tokens after a sentence's end in target_in feed only steps whose targets are padding.
  TinyBatch garbage = b;
  garbage.target_in(0, 3) = 5;
  check_same(base, loss_and_grads(*m, garbage));

  // Empty lengths are counted from the padding.
  TinyBatch counted = b;
  counted.lengths.clear();
  check_same(base, loss_and_grads(*m, counted));

  // A padded target position does count once it holds a real target.
  TinyBatch unmasked = b;
  unmasked.target_out(0, 3) = 4;
  CHECK(loss_and_grads(*m, unmasked).loss != doctest::Approx(base.loss));
}

TEST_CASE("Seq2Seq: the one-GEMM teacher-forced logits equal incremental decode_step logits") {
  Seq2SeqOptions o = tiny(RecurrentKind::lstm, AttentionKind::general);
  o.decoder_layers = 2;
  auto m = f64_model(o, 9);
  const TinyBatch b = tiny_batch();
  Var logits = m->forward(b.source, b.lengths, b.target_in);  // [B, T, V]
  REQUIRE(logits.shape() == Shape{2, 4, 6});
  EncoderState enc = m->encode(b.source, b.lengths);
  DecoderState state = enc.initial;
  for (std::size_t t = 0; t < 4; ++t) {
    DecoderStep step = m->decode_step(enc.memory, Indices(xt::view(b.target_in, xt::all(), t)), state);
    for (std::size_t bi = 0; bi < 2; ++bi) {
      for (std::size_t v = 0; v < 6; ++v) {
        CHECK(step.logits.value().at(bi * 6 + v) ==
              doctest::Approx(logits.value().at((bi * 4 + t) * 6 + v)).epsilon(1e-12));
      }
      // Attention: padded source positions get exactly 0, real ones sum to 1.
      double total = 0;
      for (std::size_t s = 0; s < 4; ++s) {
        const double w = step.attention.value().at(bi * 4 + s);
        if (s >= static_cast<std::size_t>(b.lengths[bi])) CHECK(w == 0.0);
        total += w;
      }
      CHECK(total == doctest::Approx(1.0));
    }
    state = step.state;
  }
}

TEST_CASE("Seq2Seq: scheduled sampling") {
  Seq2SeqOptions o = tiny(RecurrentKind::lstm, AttentionKind::additive);
  const TinyBatch b = tiny_batch();
  SUBCASE("probability 0 is teacher forcing; eval mode never samples") {
    o.sampling_probability = 0.0;
    auto m = f64_model(o, 4);
    m->train();
    const double teacher = m->loss(b.source, b.lengths, b.target_in, b.target_out).item();
    o.sampling_probability = 1.0;
    auto s = f64_model(o, 4);
    CHECK(s->loss(b.source, b.lengths, b.target_in, b.target_out).item() == doctest::Approx(teacher).epsilon(1e-12));
  }
  SUBCASE("probability 1 feeds the argmax of the previous step") {
    o.sampling_probability = 1.0;
    auto m = f64_model(o, 4);
    m->train();  // dropout is 0: only the sampling differs from eval
    const double sampled = m->loss(b.source, b.lengths, b.target_in, b.target_out).item();
    // The same inputs built by hand: BOS, then each step's argmax.
    Indices fed = b.target_in;
    EncoderState enc = m->encode(b.source, b.lengths);
    DecoderState state = enc.initial;
    for (std::size_t t = 0; t + 1 < 4; ++t) {
      DecoderStep step = m->decode_step(enc.memory, Indices(xt::view(fed, xt::all(), t)), state);
      for (std::size_t bi = 0; bi < 2; ++bi) {
        std::size_t best = 0;
        for (std::size_t v = 1; v < 6; ++v) {
          if (step.logits.value().at(bi * 6 + v) > step.logits.value().at(bi * 6 + best)) best = v;
        }
        fed(bi, t + 1) = static_cast<std::int64_t>(best);
      }
      state = step.state;
    }
    m->eval();
    CHECK(sampled == doctest::Approx(m->loss(b.source, b.lengths, fed, b.target_out).item()).epsilon(1e-12));
    CHECK(sampled != doctest::Approx(m->loss(b.source, b.lengths, b.target_in, b.target_out).item()));
  }
  SUBCASE("seeded: the same seed gives the same draws, and gradients flow") {
    o.sampling_probability = 0.5;
    o.sampling_seed = 42;
    auto a = f64_model(o, 4);
    auto c = f64_model(o, 4);
    a->train();
    c->train();
    std::vector<double> la, lc;
    for (int i = 0; i < 5; ++i) {
      la.push_back(a->loss(b.source, b.lengths, b.target_in, b.target_out).item());
      Var l = c->loss(b.source, b.lengths, b.target_in, b.target_out);
      l.backward();
      lc.push_back(l.item());
    }
    CHECK(la == lc);
    for (const Var& p : c->parameters()) CHECK(p.grad().defined());
  }
}

TEST_CASE("Seq2Seq: errors name the argument and the shapes") {
  Seq2SeqOptions o = tiny(RecurrentKind::lstm, AttentionKind::additive);
  Seq2Seq m(o);
  const TinyBatch b = tiny_batch();
  CHECK_THROWS_AS(m.loss(b.source, {4}, b.target_in, b.target_out), ShapeError);
  CHECK_THROWS_AS(m.loss(b.source, {4, 5}, b.target_in, b.target_out), IndexError);
  CHECK_THROWS_AS(m.loss(b.source, b.lengths, b.target_in, padded(b.target_out, 1)), ShapeError);
  CHECK_THROWS_AS(m.loss(b.source, b.lengths, Indices{{1, 2}}, Indices{{1, 2}}), ShapeError);
  const Indices all_padding{{0, 0}, {0, 0}}, one_in{{1, 3}, {1, 3}}, one_out{{3, 2}, {3, 2}};
  CHECK_THROWS_AS(m.loss(all_padding, {}, one_in, one_out), Error);
  CHECK_THROWS_AS(m.loss(b.source, b.lengths, b.target_in + 10, b.target_out), IndexError);
  CHECK_THROWS_AS(m.decode_step(m.encode(b.source).memory, Indices{1, 1, 1}, m.encode(b.source).initial), ShapeError);

  Seq2SeqOptions bad = o;
  bad.decoder_hidden_size = 5;  // identity bridge needs 4
  CHECK_THROWS_AS(Seq2Seq{bad}, ShapeError);
  bad = o;
  bad.eos_id = 6;  // the source vocabulary has 7, the target one 6
  CHECK_THROWS_AS(Seq2Seq{bad}, Error);
  bad = o;
  bad.sampling_probability = 1.5;
  CHECK_THROWS_AS(Seq2Seq{bad}, Error);
  bad = o;
  bad.attention.kind = AttentionKind::dot;
  bad.decoder_hidden_size = 3;
  bad.bridge = BridgeKind::linear;  // dot needs H_d = key size
  CHECK_THROWS_AS(Seq2Seq{bad}, Error);
}

TEST_CASE("Seq2Seq: Adam steps lower the reference model's loss (float32)") {
  manual_seed(11);
  Seq2Seq m(Seq2SeqOptions::reference(8, 6, 8));
  Adam adam(m.parameters(), {.lr = 1e-2});
  const TinyBatch b = tiny_batch();
  std::vector<double> losses;
  for (int step = 0; step < 30; ++step) {
    adam.zero_grad();
    Var loss = m.loss(b.source, b.lengths, b.target_in, b.target_out);
    loss.backward();
    adam.step();
    losses.push_back(loss.item());
  }
  INFO("first " << losses.front() << ", last " << losses.back());
  CHECK(losses[1] < losses[0]);
  CHECK(losses.back() < 0.5 * losses.front());
}

TEST_CASE("Seq2Seq: the reference model matches PyTorch's loss and gradients (tests/fixtures/seq2seq.json)") {
  const nlohmann::json fx = test::load_fixtures("seq2seq.json");
  const auto& sizes = fx.at("sizes");
  Seq2SeqOptions o = Seq2SeqOptions::reference(sizes.at("V").get<std::size_t>(), sizes.at("E").get<std::size_t>(),
                                               sizes.at("H").get<std::size_t>());
  o.dtype = DType::f64;
  auto ids = [&](const char* key) {
    const std::vector<double> v = test::tensor_of(fx.at(key)).to_vector();
    const Shape shape = test::shape_of(fx.at(key));
    Indices out = xt::zeros<std::int64_t>(std::vector<std::size_t>(shape.begin(), shape.end()));
    for (std::size_t i = 0; i < v.size(); ++i) out.flat(i) = static_cast<std::int64_t>(v[i]);
    return out;
  };
  const Indices source = ids("source"), target_in = ids("target_in"), target_out = ids("target_out");
  const std::vector<std::int64_t> lengths = fx.at("lengths").get<std::vector<std::int64_t>>();
  StateDict state;
  for (const auto& [name, value] : fx.at("parameters").items()) state.push_back({name, test::tensor_of(value)});
  for (const auto& c : fx.at("cases")) {
    o.label_smoothing = c.at("label_smoothing").get<double>();
    INFO("label_smoothing " << o.label_smoothing);
    Seq2Seq m(o);
    m.load_state_dict(state);
    Var loss = m.loss(source, lengths, target_in, target_out);
    loss.backward();
    CHECK(loss.item() == doctest::Approx(c.at("loss").get<double>()).epsilon(1e-10));
    for (const NamedVar& p : m.named_parameters()) {
      INFO(p.name);
      const std::vector<double> expected = test::tensor_of(c.at("grads").at(p.name)).to_vector();
      const std::vector<double> got = p.var.grad().to_vector();
      REQUIRE(got.size() == expected.size());
      for (std::size_t i = 0; i < got.size(); ++i) CHECK(got[i] == doctest::Approx(expected[i]).epsilon(1e-9));
    }
  }
}

TEST_CASE("Seq2Seq: dropout acts while training only") {
  Seq2SeqOptions o = tiny(RecurrentKind::lstm, AttentionKind::additive);
  o.dropout = 0.3;
  o.encoder_layers = 2;
  o.decoder_layers = 2;
  auto m = f64_model(o, 8);
  const TinyBatch b = tiny_batch();
  const double eval_loss = m->loss(b.source, b.lengths, b.target_in, b.target_out).item();
  CHECK(m->loss(b.source, b.lengths, b.target_in, b.target_out).item() == eval_loss);
  m->train();
  manual_seed(1);
  const double first = m->loss(b.source, b.lengths, b.target_in, b.target_out).item();
  manual_seed(1);
  CHECK(m->loss(b.source, b.lengths, b.target_in, b.target_out).item() == first);  // masks from the default generator
  CHECK(first != doctest::Approx(eval_loss));
  CHECK(m->loss(b.source, b.lengths, b.target_in, b.target_out).item() != doctest::Approx(first));
}

TEST_CASE("Seq2Seq: parameter_count_of counts what the model allocates, before allocating it") {
  for (RecurrentKind cell : {RecurrentKind::lstm, RecurrentKind::gru}) {
    for (AttentionKind kind : {AttentionKind::additive, AttentionKind::dot, AttentionKind::general,
                               AttentionKind::scaled_dot, AttentionKind::multi_head}) {
      for (int variant = 0; variant < 4; ++variant) {
        Seq2SeqOptions o = tiny(cell, kind);
        o.encoder_layers = 1 + variant % 2;
        o.decoder_layers = 1 + variant / 2;
        o.bidirectional = variant % 2 == 1;
        if (variant == 3 && kind != AttentionKind::dot && kind != AttentionKind::scaled_dot) {
          o.decoder_hidden_size = 6;  // a linear bridge, and multi_head's separate q, k, v projections
          o.bridge = BridgeKind::linear;
        }
        if (variant == 2) o.attention.attention_size = 0;  // additive: the key size
        if (variant == 1) o.attention.bias = false;
        INFO("cell ", int(cell), ", ", attention_kind_name(kind), ", variant ", variant);
        CHECK(parameter_count_of(o) == double(Seq2Seq(o).parameter_count()));
        o.tie_embeddings = true;
        o.embedding_size = Seq2Seq(tiny(cell, kind)).decoder.context_size() + 4;  // H_d + C at variant 0
        if (variant == 0) CHECK(parameter_count_of(o) == double(Seq2Seq(o).parameter_count()));
      }
    }
  }
  // A configuration far too large to build is counted, not allocated; a refused one throws as the
  // constructor does.
  Seq2SeqOptions huge = tiny(RecurrentKind::lstm, AttentionKind::general);
  huge.encoder_layers = 100'000'000;
  huge.hidden_size = std::size_t{1} << 40;
  CHECK(parameter_count_of(huge) > 1e30);
  Seq2SeqOptions bad = tiny(RecurrentKind::lstm, AttentionKind::additive);
  bad.encoder_layers = 0;
  CHECK_THROWS_AS(parameter_count_of(bad), Error);
}
