// MultiHeadAttention on whole sequences: gradchecks with every kind of mask and
// size-1 dimensions, the one-step form against the sequence form, the
// incremental (prepare/attend_sequence) API, fully masked rows, dropout, shape
// errors, and PyTorch parity through tests/fixtures/transformer.json
// (tools/fixtures/gen_transformer_fixtures.py).
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "errors.hpp"
#include "fixtures.hpp"
#include "ops/check.hpp"
#include "tapegrad.hpp"
#include "tapegrad/models/multi_head_attention.hpp"

using namespace tg;
using nlohmann::json;
using tg::test::contains;
using tg::test::error_of;

namespace {

AttentionOptions mha_options(std::size_t e, std::size_t heads, std::size_t kdim = 0, std::size_t vdim = 0,
                             bool bias = true) {
  return {.kind = AttentionKind::multi_head,
          .query_size = e,
          .key_size = kdim == 0 ? e : kdim,
          .value_size = vdim == 0 ? (kdim == 0 ? e : kdim) : vdim,
          .num_heads = heads,
          .bias = bias,
          .dtype = DType::f64};
}

// A float64 module whose every parameter is random, biases included.
std::unique_ptr<MultiHeadAttention> random_mha(const AttentionOptions& o, std::uint64_t seed = 100) {
  Generator gen(seed);
  auto m = std::make_unique<MultiHeadAttention>(o, gen);
  for (NamedVar& p : m->named_parameters()) p.var.mutable_value() = test::randn(p.var.shape(), seed++);
  return m;
}

// Row b has lengths[b] real positions, then padding.
Mask padding_of(const std::vector<std::size_t>& lengths, std::size_t s) {
  Mask m = Mask::from_shape({lengths.size(), s});
  for (std::size_t b = 0; b < lengths.size(); ++b) {
    for (std::size_t j = 0; j < s; ++j) m(b, j) = j >= lengths[b];
  }
  return m;
}

// Every third position blocked, never key 0 (no fully masked row).
Mask some_blocked(const Shape& shape) {
  Mask m = Mask::from_shape(shape);
  const std::size_t s = shape.back();
  for (std::size_t i = 0; i < m.size(); ++i) m.data()[i] = i % s != 0 && i % 3 == 1;
  return m;
}

Tensor float_mask(const Shape& shape, std::uint64_t seed) {
  Tensor t = test::randn(shape, seed);
  const Mask blocked = some_blocked(shape);
  for (std::size_t i = 0; i < t.size(); ++i) {
    if (blocked.data()[i]) t.set(i, -std::numeric_limits<double>::infinity());
  }
  return t;
}

// Output and (when present) weights as one vector: gradcheck weighs every element of each.
Var both(const AttentionResult& r) {
  if (!r.weights.defined()) return reshape(r.context, {-1});
  return concat({reshape(r.context, {-1}), reshape(r.weights, {-1})}, 0);
}

struct Case {
  std::string name;
  std::size_t b, l, s, e, heads, kdim, vdim;
  bool bias;
  SequenceAttentionOptions call;
};

std::vector<Case> gradcheck_cases() {
  std::vector<Case> cases;
  cases.push_back({"no mask, per-head weights", 2, 3, 4, 4, 2, 0, 0, true, {.average_attn_weights = false}});
  cases.push_back({"bool [L, S] mask", 2, 3, 4, 4, 2, 0, 0, true, {.attn_mask = some_blocked({3, 4})}});
  cases.push_back({"float [L, S] mask and padding",
                   3,
                   3,
                   4,
                   6,
                   3,
                   0,
                   0,
                   true,
                   {.attn_mask = float_mask({3, 4}, 5), .key_padding_mask = padding_of({4, 2, 1}, 4)}});
  cases.push_back({"bool [B*heads, L, S] mask and padding, kdim/vdim",
                   2,
                   3,
                   4,
                   4,
                   2,
                   3,
                   5,
                   true,
                   {.attn_mask = some_blocked({4, 3, 4}), .key_padding_mask = padding_of({4, 3}, 4)}});
  cases.push_back({"causal, no bias, one head", 2, 4, 4, 3, 1, 0, 0, false, {.is_causal = true}});
  cases.push_back({"L = 1, S = 1, B = 1", 1, 1, 1, 4, 2, 0, 0, true, {}});
  cases.push_back({"B = 1, L = 1, heads = 1, S = 3, padding",
                   1,
                   1,
                   3,
                   2,
                   1,
                   2,
                   3,
                   true,
                   {.key_padding_mask = padding_of({2}, 3), .average_attn_weights = false}});
  cases.push_back(
      {"a fully masked query row",
       2,
       3,
       4,
       4,
       2,
       0,
       0,
       true,
       {.attn_mask = Mask{{true, true, true, true}, {false, true, false, false}, {false, false, true, false}}}});
  cases.push_back({"need_weights = false", 2, 2, 3, 4, 2, 0, 0, true, {.need_weights = false}});
  return cases;
}

}  // namespace

TEST_CASE("MultiHeadAttention sequences: float64 gradcheck w.r.t. parameters, query, key and value") {
  for (const Case& c : gradcheck_cases()) {
    CAPTURE(c.name);
    auto m = random_mha(mha_options(c.e, c.heads, c.kdim, c.vdim, c.bias));
    const Tensor q = test::randn({c.b, c.l, c.e}, 1), k = test::randn({c.b, c.s, m->options().key_size}, 2),
                 v = test::randn({c.b, c.s, m->value_size()}, 3);
    GradcheckReport report =
        gradcheck(*m, [&](const std::vector<Var>& x) { return both(m->forward(x[0], x[1], x[2], c.call)); }, {q, k, v});
    INFO(report.message());
    CHECK(report.passed);
    CHECK(report.elements_checked == m->parameter_count() + q.size() + k.size() + v.size());
  }
}

TEST_CASE("MultiHeadAttention sequences: shapes of the output and of per-head and averaged weights") {
  auto m = random_mha(mha_options(6, 3, 4, 5));
  Var q(test::randn({2, 3, 6}, 1)), k(test::randn({2, 4, 4}, 2)), v(test::randn({2, 4, 5}, 3));
  AttentionResult avg = m->forward(q, k, v);
  CHECK(avg.context.shape() == Shape{2, 3, 6});
  CHECK(avg.weights.shape() == Shape{2, 3, 4});
  AttentionResult per_head = m->forward(q, k, v, {.average_attn_weights = false});
  CHECK(per_head.weights.shape() == Shape{2, 3, 3, 4});
  CHECK(per_head.context.value().to_vector() == avg.context.value().to_vector());
  // The average is the mean of the heads' rows, and each head's rows sum to 1.
  for (std::size_t b = 0; b < 2; ++b) {
    for (std::size_t i = 0; i < 3; ++i) {
      for (std::size_t j = 0; j < 4; ++j) {
        double total = 0;
        for (std::size_t h = 0; h < 3; ++h) total += per_head.weights.value().at(((b * 3 + h) * 3 + i) * 4 + j);
        CHECK(avg.weights.value().at((b * 3 + i) * 4 + j) == doctest::Approx(total / 3).epsilon(1e-14));
      }
      double row = 0;
      for (std::size_t j = 0; j < 4; ++j) row += per_head.weights.value().at(((b * 3 + 1) * 3 + i) * 4 + j);
      CHECK(row == doctest::Approx(1.0).epsilon(1e-14));
    }
  }
  CHECK_FALSE(m->forward(q, k, v, {.need_weights = false}).weights.defined());
}

TEST_CASE("MultiHeadAttention: the one-step form equals the sequence form with L = 1, in both dtypes") {
  for (DType dtype : {DType::f64, DType::f32}) {
    CAPTURE(dtype_name(dtype));
    auto m = copy_as(*random_mha(mha_options(6, 2, 4, 5)), dtype);
    Var q(test::randn({3, 6}, 1).to(dtype)), k(test::randn({3, 5, 4}, 2).to(dtype)),
        v(test::randn({3, 5, 5}, 3).to(dtype));
    const Mask padding = padding_of({5, 3, 1}, 5);
    AttentionResult step = m->attend(m->prepare(k, v, padding), q);
    AttentionResult seq = m->forward(reshape(q, Shape{3, 1, 6}), k, v, {.key_padding_mask = padding});
    CHECK(step.context.value().to_vector() == seq.context.value().to_vector());
    CHECK(step.weights.value().to_vector() == seq.weights.value().to_vector());
  }
}

TEST_CASE("MultiHeadAttention: masks block exactly their positions; bool and float -inf forms agree") {
  auto m = random_mha(mha_options(4, 2));
  Var q(test::randn({2, 3, 4}, 1)), kv(test::randn({2, 4, 4}, 2));
  const Mask blocked = some_blocked({3, 4});
  Tensor as_float = Tensor::zeros({3, 4}, DType::f32);  // a float32 mask converts to the scores' dtype
  for (std::size_t i = 0; i < blocked.size(); ++i) {
    if (blocked.data()[i]) as_float.set(i, -std::numeric_limits<double>::infinity());
  }
  AttentionResult with_bool = m->forward(q, kv, kv, {.attn_mask = blocked, .average_attn_weights = false});
  AttentionResult with_float = m->forward(q, kv, kv, {.attn_mask = as_float, .average_attn_weights = false});
  CHECK(with_bool.context.value().to_vector() == with_float.context.value().to_vector());
  for (std::size_t i = 0; i < with_bool.weights.size(); ++i) {
    CAPTURE(i);
    CHECK((with_bool.weights.value().at(i) == 0.0) == blocked.data()[i % 12]);
  }
  // is_causal is the lower triangle: the same as an explicit causal mask.
  const Mask causal = {{false, true, true}, {false, false, true}, {false, false, false}};
  Var kv3(test::randn({2, 3, 4}, 3));
  CHECK(m->forward(q, kv3, kv3, {.is_causal = true}).context.value().to_vector() ==
        m->forward(q, kv3, kv3, {.attn_mask = causal}).context.value().to_vector());
  // Finite float entries are added to the scores: a constant row shift changes nothing, a column shift does.
  Tensor shift = Tensor::full({3, 4}, 2.5, DType::f64);
  CHECK(test::relative_gap(m->forward(q, kv, kv, {.attn_mask = shift}).context.value().to_vector(),
                           m->forward(q, kv, kv).context.value().to_vector()) < 1e-14);
  shift.set(1, 3.0);
  CHECK(test::relative_gap(m->forward(q, kv, kv, {.attn_mask = shift}).context.value().to_vector(),
                           m->forward(q, kv, kv).context.value().to_vector()) > 1e-6);
}

TEST_CASE("MultiHeadAttention: a fully masked query row gives zero weights, context out_proj.bias, finite gradients") {
  auto m = random_mha(mha_options(4, 2));
  Var q(test::randn({2, 2, 4}, 1), true), k(test::randn({2, 3, 4}, 2), true), v(test::randn({2, 3, 4}, 3), true);
  // Query row 0 blocked by attn_mask everywhere; batch entry 1 fully padded.
  const Mask attn = {{true, true, true}, {false, true, false}};
  AttentionResult r = m->forward(q, k, v, {.attn_mask = attn, .key_padding_mask = padding_of({3, 0}, 3)});
  for (std::size_t j = 0; j < 3; ++j) {
    CHECK(r.weights.value().at(j) == 0.0);      // batch 0, query 0
    CHECK(r.weights.value().at(6 + j) == 0.0);  // batch 1, query 0
    CHECK(r.weights.value().at(9 + j) == 0.0);  // batch 1, query 1
  }
  for (std::size_t j = 0; j < 4; ++j) {
    CHECK(r.context.value().at(j) == doctest::Approx(m->out_proj.bias.value().at(j)).epsilon(1e-13));
    CHECK(r.context.value().at(8 + j) == doctest::Approx(m->out_proj.bias.value().at(j)).epsilon(1e-13));
  }
  Var loss = sum(r.context * r.context) + sum(r.weights);
  loss.backward();
  CHECK(all_finite(q.grad()));
  CHECK(all_finite(k.grad()));
  CHECK(all_finite(v.grad()));
  for (const NamedVar& p : m->named_parameters()) CHECK(all_finite(p.var.grad()));
  for (std::size_t i = 0; i < 12; ++i) CHECK(k.grad().at(12 + i) == 0.0);  // the padded entry's keys
}

TEST_CASE("MultiHeadAttention: keys and values projected in pieces and concatenated (a cache) give forward's numbers") {
  auto m = random_mha(mha_options(6, 3, 4, 5));
  const std::size_t b = 2, t = 4;
  Var q(test::randn({b, t, 6}, 1)), k(test::randn({b, t, 4}, 2)), v(test::randn({b, t, 5}, 3));
  AttentionResult full = m->forward(q, k, v, {.is_causal = true});
  // Step by step: project each new key/value row once, append, attend with the new query row only.
  Var cached_keys, cached_values;
  for (std::size_t step = 0; step < t; ++step) {
    CAPTURE(step);
    const long at = static_cast<long>(step);
    AttentionMemory rows = m->prepare(slice(k, 1, at, at + 1), slice(v, 1, at, at + 1));
    cached_keys = step == 0 ? rows.keys : concat({cached_keys, rows.keys}, 1);
    cached_values = step == 0 ? rows.values : concat({cached_values, rows.values}, 1);
    AttentionMemory memory = rows;
    memory.keys = cached_keys;
    memory.values = cached_values;
    AttentionResult r = m->attend_sequence(memory, slice(q, 1, at, at + 1));
    CHECK(test::relative_gap(r.context.value().to_vector(), slice(full.context, 1, at, at + 1).value().to_vector()) <
          1e-14);
    CHECK(r.weights.shape() == Shape{b, 1, step + 1});
  }
  std::string e = error_of<Error>([&] {
    m->attend_sequence(m->prepare(k, v), q, {.key_padding_mask = padding_of({4, 4}, 4)});
  });
  CHECK(contains(e, "key padding from the memory"));
}

TEST_CASE("MultiHeadAttention: dropout on the weights only while training, rows rescaled by 1 / (1 - p)") {
  AttentionOptions o = mha_options(4, 2);
  o.dropout = 0.5;
  auto m = random_mha(o);
  Var q(test::randn({2, 3, 4}, 1)), kv(test::randn({2, 5, 4}, 2));
  m->eval();
  AttentionResult plain = m->forward(q, kv, kv, {.average_attn_weights = false});
  m->train();
  manual_seed(7);
  AttentionResult dropped = m->forward(q, kv, kv, {.average_attn_weights = false});
  std::size_t zeros = 0;
  for (std::size_t i = 0; i < plain.weights.size(); ++i) {
    const double w = dropped.weights.value().at(i);
    if (w == 0.0) {
      ++zeros;
    } else {
      CHECK(w == doctest::Approx(2 * plain.weights.value().at(i)).epsilon(1e-14));
    }
  }
  CHECK(zeros > 0);
  CHECK(zeros < plain.weights.size());
  manual_seed(7);
  CHECK(m->forward(q, kv, kv).context.value().to_vector() == dropped.context.value().to_vector());
  o.dropout = 1.5;
  CHECK(contains(error_of<Error>([&] { MultiHeadAttention bad(o); }), "dropout = 1.5"));
}

TEST_CASE("MultiHeadAttention sequences: wrong shapes, ranks and dtypes name the module, the argument and the shapes") {
  MultiHeadAttention m(mha_options(6, 2, 4, 5));
  Var q(Tensor::zeros({2, 3, 6}, DType::f64)), k(Tensor::zeros({2, 4, 4}, DType::f64)),
      v(Tensor::zeros({2, 4, 5}, DType::f64));
  std::string e = error_of<ShapeError>([&] { m.forward(Var(Tensor::zeros({2, 3, 5}, DType::f64)), k, v); });
  CHECK(contains(e, "tg::MultiHeadAttention (multi_head)"));
  CHECK(contains(e, "query must be [B, L, E] = [2, L, 6]"));
  CHECK(contains(e, "got [2, 3, 5]"));
  e = error_of<ShapeError>([&] { m.forward(Var(Tensor::zeros({2, 6}, DType::f64)), k, v); });
  CHECK(contains(e, "got [2, 6]"));
  e = error_of<ShapeError>([&] { m.forward(Var(Tensor::zeros({3, 3, 6}, DType::f64)), k, v); });
  CHECK(contains(e, "got [3, 3, 6]"));
  e = error_of<ShapeError>([&] { m.forward(q, Var(Tensor::zeros({2, 4, 6}, DType::f64)), v); });
  CHECK(contains(e, "keys must be [B, S, Hk = 4]"));
  CHECK(contains(e, "got [2, 4, 6]"));
  e = error_of<ShapeError>([&] { m.forward(q, k, Var(Tensor::zeros({2, 3, 5}, DType::f64))); });
  CHECK(contains(e, "values must be [B, S, Hv] = [2, 4, 5]"));
  e = error_of<ShapeError>([&] { m.forward(q, k, v, {.key_padding_mask = Mask::from_shape({2, 3})}); });
  CHECK(contains(e, "key_padding_mask must be [B, S] = [2, 4]"));
  CHECK(contains(e, "got [2, 3]"));
  e = error_of<ShapeError>([&] { m.forward(q, k, v, {.attn_mask = Mask::from_shape({4, 3})}); });
  CHECK(contains(e, "attn_mask must be [L, S] = [3, 4] or [B * heads, L, S] = [4, 3, 4]"));
  CHECK(contains(e, "got [4, 3]"));
  e = error_of<ShapeError>([&] { m.forward(q, k, v, {.attn_mask = Tensor::zeros({2, 3, 4})}); });
  CHECK(contains(e, "got [2, 3, 4]"));
  AttentionMask both_forms(Mask::from_shape({3, 4}));
  both_forms.additive = Tensor::zeros({3, 4});
  e = error_of<Error>([&] { m.forward(q, k, v, {.attn_mask = both_forms}); });
  CHECK(contains(e, "both a boolean and a float form"));
  e = error_of<DTypeError>([&] { m.forward(Var(Tensor::zeros({2, 3, 6})), k, v); });
  CHECK(contains(e, "query is float32 but the keys are float64"));
  e = error_of<DTypeError>([&] { m.forward(q, Var(Tensor::zeros({2, 4, 4})), Var(Tensor::zeros({2, 4, 5}))); });
  CHECK(contains(e, "parameters are float64"));
}

namespace {

const json& fixtures() {
  static const json data = test::load_fixtures("transformer.json");
  return data;
}

}  // namespace

namespace {

void check_mha_against_pytorch(const json& k, DType dtype, double rel, double floor) {
  const json& o = k.at("options");
  AttentionOptions options =
      mha_options(o.at("embed_dim"), o.at("num_heads"), o.at("kdim"), o.at("vdim"), o.at("bias"));
  Generator gen(1);
  MultiHeadAttention m64(options, gen);
  StateDict state;
  for (const auto& [name, value] : k.at("parameters").items()) state.push_back({name, test::tensor_of(value)});
  m64.load_state_dict(state);  // strict: every name must match PyTorch's, both ways
  std::vector<std::string> names;
  for (const NamedVar& p : m64.named_parameters()) names.push_back(p.name);
  CHECK(names == k.at("parameter_order").get<std::vector<std::string>>());
  auto m = copy_as(m64, dtype);
  Var query(test::tensor_of(k.at("query"), dtype), true);
  Var key(test::tensor_of(k.at("key"), dtype), true);
  Var value(test::tensor_of(k.at("value"), dtype), true);
  SequenceAttentionOptions call{.average_attn_weights = k.at("average_attn_weights").get<bool>()};
  if (k.contains("attn_mask")) call.attn_mask = test::attention_mask_of(k.at("attn_mask"), dtype);
  if (k.contains("key_padding_mask")) call.key_padding_mask = test::mask_of(k.at("key_padding_mask"));
  AttentionResult r = m->forward(query, key, value, call);
  test::check_close(r.context.value(), test::tensor_of(k.at("output")), rel, floor);
  test::check_close(r.weights.value(), test::tensor_of(k.at("weights")), rel, floor);
  Var loss = sum(r.context * Var(test::tensor_of(k.at("r_output"), dtype))) +
             sum(r.weights * Var(test::tensor_of(k.at("r_weights"), dtype)));
  const double want_loss = k.at("loss").get<double>();
  CHECK(std::abs(loss.item() - want_loss) <= rel * std::abs(want_loss) + floor);
  loss.backward();
  const json& grads = k.at("grads");
  for (const NamedVar& p : m->named_parameters()) {
    CAPTURE(p.name);
    test::check_close(p.var.grad(), test::tensor_of(grads.at(p.name)), rel, floor);
  }
  test::check_close(query.grad(), test::tensor_of(grads.at("query")), rel, floor);
  test::check_close(key.grad(), test::tensor_of(grads.at("key")), rel, floor);
  test::check_close(value.grad(), test::tensor_of(grads.at("value")), rel, floor);
}

}  // namespace

TEST_CASE("MultiHeadAttention sequences match torch.nn.MultiheadAttention in float64 and float32") {
  std::size_t cases = 0;
  for (const json& k : fixtures().at("mha")) {
    CAPTURE(k.at("name").get<std::string>());
    INFO("float64");
    check_mha_against_pytorch(k, DType::f64, 1e-10, 1e-13);
    INFO("float32");
    check_mha_against_pytorch(k, DType::f32, 1e-5, 1e-6);
    ++cases;
  }
  CHECK(cases == 6);
}

TEST_CASE("MultiHeadAttention: self-attention from one packed projection equals the separate projections") {
  // forward(x, x, x) without weights projects x once into queries, keys and values side by side
  // (self_attend_heads); with three different Vars of the same values it projects each apart.
  AttentionOptions o = mha_options(6, 3);
  o.dropout = 0.3;
  auto packed = random_mha(o), apart = random_mha(o);
  const Tensor x = test::randn({2, 4, 6}, 9);
  const Mask padding = padding_of({4, 2}, 4);
  const SequenceAttentionOptions call{
      .attn_mask = some_blocked({4, 4}), .key_padding_mask = padding, .need_weights = false};
  Var self(x, true), query(x, true), key(x, true), value(x, true);
  manual_seed(3);
  Var y = packed->forward(self, self, self, call).context;
  manual_seed(3);
  Var want = apart->forward(query, key, value, call).context;
  const std::vector<double> got_values = y.value().to_vector(), want_values = want.value().to_vector();
  for (std::size_t i = 0; i < got_values.size(); ++i)
    CHECK(got_values[i] == doctest::Approx(want_values[i]).epsilon(1e-13));
  const Tensor seed = test::randn(y.shape(), 10);
  y.backward(seed);
  want.backward(seed);
  const std::vector<double> dx = self.grad().to_vector(), dq = query.grad().to_vector(), dk = key.grad().to_vector(),
                            dv = value.grad().to_vector();
  for (std::size_t i = 0; i < dx.size(); ++i) CHECK(dx[i] == doctest::Approx(dq[i] + dk[i] + dv[i]).epsilon(1e-12));
  std::vector<NamedVar> a = packed->named_parameters(), b = apart->named_parameters();
  for (std::size_t p = 0; p < a.size(); ++p) {
    CAPTURE(a[p].name);
    const std::vector<double> ga = a[p].var.grad().to_vector(), gb = b[p].var.grad().to_vector();
    for (std::size_t i = 0; i < ga.size(); ++i) CHECK(ga[i] == doctest::Approx(gb[i]).epsilon(1e-12));
  }
}
