// The five attention kinds: gradchecks, masking, prepare/attend, what attend
// records per step, shape validation, and PyTorch parity through
// tests/fixtures/attention.json (tools/fixtures/gen_attention_fixtures.py).
#include <doctest/doctest.h>

#include <cmath>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include <nlohmann/json.hpp>

#include "errors.hpp"
#include "fixtures.hpp"
#include "ops/check.hpp"
#include "tapegrad.hpp"
#include "tapegrad/models/additive_attention.hpp"
#include "tapegrad/models/attention.hpp"
#include "tapegrad/models/dot_attention.hpp"
#include "tapegrad/models/general_attention.hpp"
#include "tapegrad/models/multi_head_attention.hpp"

using namespace tg;
using nlohmann::json;
using tg::test::contains;
using tg::test::error_of;

namespace {

constexpr std::size_t batch = 3, source = 5;

// One configuration per class and layout: sizes differ on purpose so that a
// mixed-up size cannot pass.
struct Config {
  std::string name;
  AttentionOptions options;
};

std::vector<Config> configs() {
  using K = AttentionKind;
  return {
      {"additive", {.kind = K::additive, .query_size = 4, .key_size = 3, .value_size = 2, .attention_size = 5}},
      {"additive_default_sizes", {.kind = K::additive, .query_size = 2, .key_size = 3}},
      {"dot", {.kind = K::dot, .query_size = 3, .key_size = 3, .value_size = 2}},
      {"scaled_dot", {.kind = K::scaled_dot, .query_size = 3, .key_size = 3, .value_size = 4}},
      {"general", {.kind = K::general, .query_size = 4, .key_size = 3, .value_size = 2}},
      {"multi_head_packed", {.kind = K::multi_head, .query_size = 6, .key_size = 6, .num_heads = 2}},
      {"multi_head_kdim_vdim",
       {.kind = K::multi_head, .query_size = 6, .key_size = 4, .value_size = 5, .num_heads = 3}},
      {"multi_head_one_head_no_bias",
       {.kind = K::multi_head, .query_size = 4, .key_size = 4, .num_heads = 1, .bias = false}},
  };
}

std::size_t value_size_of(const AttentionOptions& o) { return o.value_size != 0 ? o.value_size : o.key_size; }

// Row b has lengths[b] real positions, then padding.
Mask padding_of(const std::vector<std::size_t>& lengths) {
  Mask m = Mask::from_shape({lengths.size(), source});
  for (std::size_t b = 0; b < lengths.size(); ++b) {
    for (std::size_t s = 0; s < source; ++s) m(b, s) = s >= lengths[b];
  }
  return m;
}

// Both outputs as one vector: gradcheck weighs every element of each.
Var both(const AttentionResult& r) { return concat({reshape(r.context, {-1}), reshape(r.weights, {-1})}, 0); }

std::unique_ptr<Attention> make_f64(AttentionOptions o, std::uint64_t seed = 11) {
  o.dtype = DType::f64;
  Generator gen(seed);
  return make_attention(o, gen);
}

// A float64 module whose every parameter is random, biases included (some start at zero).
std::unique_ptr<Attention> make_random_f64(const AttentionOptions& o) {
  auto m = make_f64(o);
  std::uint64_t seed = 100;
  for (NamedVar& p : m->named_parameters()) p.var.mutable_value() = test::randn(p.var.shape(), seed++);
  return m;
}

struct Inputs {
  Tensor query, keys, values;
};

Inputs inputs_for(const AttentionOptions& o, std::uint64_t seed) {
  return {test::randn({batch, o.query_size}, seed), test::randn({batch, source, o.key_size}, seed + 1),
          test::randn({batch, source, value_size_of(o)}, seed + 2)};
}

}  // namespace

TEST_CASE("attention kinds: names round-trip, unknown names are listed") {
  for (AttentionKind kind : {AttentionKind::additive, AttentionKind::dot, AttentionKind::general,
                             AttentionKind::scaled_dot, AttentionKind::multi_head}) {
    CHECK(parse_attention_kind(attention_kind_name(kind)) == kind);
  }
  const std::string message = error_of<Error>([] { parse_attention_kind("bahdanau"); });
  CHECK(contains(message, "'bahdanau'"));
  CHECK(contains(message, "additive, dot, general, scaled_dot, multi_head"));
}

TEST_CASE("attention: make_attention builds the class of each kind with PyTorch-style names and shapes") {
  using K = AttentionKind;
  auto names_and_shapes = [](const Attention& m) {
    std::vector<std::string> out;
    for (const NamedVar& p : m.named_parameters()) out.push_back(p.name + " " + shape_str(p.var.shape()));
    return out;
  };
  auto additive =
      make_attention({.kind = K::additive, .query_size = 4, .key_size = 3, .value_size = 2, .attention_size = 5});
  CHECK(additive->type_name() == "tg::AdditiveAttention");
  CHECK(names_and_shapes(*additive) ==
        std::vector<std::string>{"v [5]", "query_proj.weight [5, 4]", "query_proj.bias [5]", "key_proj.weight [5, 3]"});
  CHECK(additive->context_size() == 2);

  auto dot = make_attention({.kind = K::dot, .query_size = 3, .key_size = 3});
  CHECK(dot->type_name() == "tg::DotAttention");
  CHECK(dot->parameter_count() == 0);
  CHECK_FALSE(dynamic_cast<DotAttention&>(*dot).scaled());
  auto scaled = make_attention({.kind = K::scaled_dot, .query_size = 3, .key_size = 3, .value_size = 7});
  CHECK(dynamic_cast<DotAttention&>(*scaled).scaled());
  CHECK(scaled->context_size() == 7);

  auto general = make_attention({.kind = K::general, .query_size = 4, .key_size = 3});
  CHECK(general->type_name() == "tg::GeneralAttention");
  CHECK(names_and_shapes(*general) == std::vector<std::string>{"weight [4, 3]"});
  CHECK(general->context_size() == 3);

  auto packed = make_attention({.kind = K::multi_head, .query_size = 6, .key_size = 6, .num_heads = 2});
  CHECK(packed->type_name() == "tg::MultiHeadAttention");
  CHECK(names_and_shapes(*packed) == std::vector<std::string>{"in_proj_weight [18, 6]", "in_proj_bias [18]",
                                                              "out_proj.weight [6, 6]", "out_proj.bias [6]"});
  CHECK(packed->context_size() == 6);
  auto separate = make_attention(
      {.kind = K::multi_head, .query_size = 6, .key_size = 4, .value_size = 5, .num_heads = 3, .bias = false});
  CHECK(names_and_shapes(*separate) == std::vector<std::string>{"q_proj_weight [6, 6]", "k_proj_weight [6, 4]",
                                                                "v_proj_weight [6, 5]", "out_proj.weight [6, 6]"});
}

TEST_CASE("MultiHeadAttention: PyTorch's initialisation (xavier_uniform, zero biases, Linear's out_proj)") {
  manual_seed(5);
  MultiHeadAttention m({.kind = AttentionKind::multi_head, .query_size = 8, .key_size = 8, .num_heads = 2});
  auto within = [](const Tensor& t, double bound) {
    double biggest = 0;
    for (double x : t.to_vector()) biggest = std::max(biggest, std::abs(x));
    return biggest <= bound && biggest > 0.5 * bound;  // drawn from the whole range, not a narrower one
  };
  CHECK(within(m.in_proj_weight.value(), std::sqrt(6.0 / (24 + 8))));
  CHECK(within(m.out_proj.weight.value(), 1.0 / std::sqrt(8.0)));
  for (double x : m.in_proj_bias.value().to_vector()) CHECK(x == 0.0);
  for (double x : m.out_proj.bias.value().to_vector()) CHECK(x == 0.0);

  MultiHeadAttention separate(
      {.kind = AttentionKind::multi_head, .query_size = 8, .key_size = 4, .value_size = 12, .num_heads = 4});
  CHECK(within(separate.q_proj_weight.value(), std::sqrt(6.0 / 16)));
  CHECK(within(separate.k_proj_weight.value(), std::sqrt(6.0 / 12)));
  CHECK(within(separate.v_proj_weight.value(), std::sqrt(6.0 / 20)));
  CHECK_FALSE(separate.in_proj_weight.defined());
}

TEST_CASE("attention: float64 gradcheck of every kind w.r.t. parameters, query, keys and values") {
  const std::vector<std::pair<std::string, Mask>> paddings = {
      {"no padding", Mask{}},
      {"padding differing per row", padding_of({5, 3, 1})},
      {"a fully padded row", padding_of({4, 0, 2})},
  };
  for (const Config& c : configs()) {
    for (const auto& entry : paddings) {
      const auto& padding_name = std::get<0>(entry);
      const auto& padding = std::get<1>(entry);
      CAPTURE(c.name);
      CAPTURE(padding_name);
      auto m = make_random_f64(c.options);
      Inputs in = inputs_for(c.options, 7);
      const Mask pad = padding;
      GradcheckReport report =
          gradcheck(*m, [&](const std::vector<Var>& x) { return both(m->forward(x[0], x[1], x[2], pad)); },
                    {in.query, in.keys, in.values});
      INFO(report.message());
      CHECK(report.passed);
      CHECK(report.elements_checked == m->parameter_count() + in.query.size() + in.keys.size() + in.values.size());
    }
  }
}

TEST_CASE("attention: padded positions get weight exactly 0, rows sum to 1, prepare once equals forward") {
  const Mask padding = padding_of({5, 3, 1});
  for (const Config& c : configs()) {
    CAPTURE(c.name);
    manual_seed(21);
    auto m = make_attention(c.options);  // float32, as in training
    Inputs in = inputs_for(c.options, 30);
    Var keys(in.keys.to(DType::f32)), values(in.values.to(DType::f32));
    AttentionMemory memory = m->prepare(keys, values, padding);
    for (std::uint64_t step = 0; step < 3; ++step) {
      CAPTURE(step);
      Var query(test::randn({batch, c.options.query_size}, 40 + step).to(DType::f32));
      AttentionResult once = m->attend(memory, query);
      AttentionResult fresh = m->forward(query, keys, values, padding);
      CHECK(once.context.shape() == Shape{batch, m->context_size()});
      CHECK(once.weights.shape() == Shape{batch, source});
      CHECK(once.context.value().to_vector() == fresh.context.value().to_vector());
      CHECK(once.weights.value().to_vector() == fresh.weights.value().to_vector());
      for (std::size_t b = 0; b < batch; ++b) {
        double row = 0;
        for (std::size_t s = 0; s < source; ++s) {
          const double w = once.weights.value().at(b * source + s);
          if (padding(b, s)) {
            CHECK(w == 0.0);
          } else {
            CHECK(w > 0.0);
          }
          row += w;
        }
        CHECK(row == doctest::Approx(1.0).epsilon(1e-6));
      }
    }
  }
}

TEST_CASE("attention: a fully padded row gives zero weights, a zero context (out_proj.bias for multi_head), no NaN") {
  const Mask padding = padding_of({5, 0, 2});
  for (const Config& c : configs()) {
    CAPTURE(c.name);
    auto m = make_random_f64(c.options);
    Inputs in = inputs_for(c.options, 50);
    Var query(in.query, true), keys(in.keys, true), values(in.values, true);
    AttentionResult r = m->forward(query, keys, values, padding);
    const std::size_t width = m->context_size();
    for (std::size_t s = 0; s < source; ++s) CHECK(r.weights.value().at(source + s) == 0.0);
    const auto* mha = dynamic_cast<const MultiHeadAttention*>(m.get());
    for (std::size_t j = 0; j < width; ++j) {
      const double expected = mha != nullptr && c.options.bias ? mha->out_proj.bias.value().at(j) : 0.0;
      CHECK(r.context.value().at(width + j) == doctest::Approx(expected).epsilon(1e-12));
    }
    Var loss = sum(r.context * r.context) + sum(r.weights);
    loss.backward();
    CHECK(all_finite(query.grad()));
    CHECK(all_finite(keys.grad()));
    CHECK(all_finite(values.grad()));
    for (const NamedVar& p : m->named_parameters()) {
      CAPTURE(p.name);
      CHECK(all_finite(p.var.grad()));
    }
    // The padded row's keys and values get no gradient at all.
    for (std::size_t i = 0; i < source * c.options.key_size; ++i) {
      CHECK(keys.grad().at(source * c.options.key_size + i) == 0.0);
    }
  }
}

TEST_CASE("attention: attend() reads only the query-side parameters and copies no whole sequence") {
  const Mask padding = padding_of({5, 3, 1});
  for (const Config& c : configs()) {
    CAPTURE(c.name);
    auto m = make_f64(c.options);
    Inputs in = inputs_for(c.options, 60);
    Var query(in.query, true), keys(in.keys, true), values(in.values, true);
    Tape tape;
    UseTape use(tape);
    AttentionMemory memory = m->prepare(keys, values, padding);
    const std::size_t prepared = tape.size();
    AttentionResult r = m->attend(memory, query);
    std::set<std::string> read;
    std::size_t biggest_output = 0;
    for (std::size_t e = prepared; e < tape.size(); ++e) {
      const TapeEntry& entry = tape.entry(e);
      for (const Var& input : tape.inputs_of(entry)) {
        for (const NamedVar& p : m->named_parameters()) {
          if (input.node() == p.var.node()) read.insert(p.name);
        }
      }
      biggest_output = std::max(biggest_output, entry.output->value.size());
    }
    std::set<std::string> expected;
    if (c.options.kind == AttentionKind::additive) expected = {"v", "query_proj.weight", "query_proj.bias"};
    if (c.options.kind == AttentionKind::multi_head) {
      // W_q: q_proj_weight itself, or a slice of in_proj_weight taken in prepare().
      expected = {"out_proj.weight"};
      if (c.options.bias) expected.insert("out_proj.bias");
      if (!dynamic_cast<const MultiHeadAttention&>(*m).packed_in_proj()) expected.insert("q_proj_weight");
    }
    CHECK(read == expected);
    // Per step, only additive attention makes a [B, S, A] tensor (its tanh layer);
    // the others stay within the scores (per head) and the vectors of size Hq, C.
    const std::size_t heads = c.options.kind == AttentionKind::multi_head ? c.options.num_heads : 1;
    const std::size_t a = dynamic_cast<const AdditiveAttention*>(m.get()) != nullptr
                              ? dynamic_cast<const AdditiveAttention&>(*m).attention_size()
                              : 0;
    const std::size_t bound =
        std::max({batch * source * heads, batch * source * a, batch * c.options.query_size, batch * m->context_size()});
    CHECK(biggest_output <= bound);
    CHECK(r.weights.shape() == Shape{batch, source});
  }
}

TEST_CASE("attention: copy_as through the base and through the class keep the kind, names and outputs") {
  for (const Config& c : configs()) {
    CAPTURE(c.name);
    manual_seed(8);
    auto m = make_attention(c.options);
    auto m64 = copy_as(*m, DType::f64);
    CHECK(m64->type_name() == m->type_name());
    CHECK(m64->dtype() == (m->parameter_count() > 0 ? DType::f64 : DType::f32));
    CHECK(m64->state_dict().size() == m->state_dict().size());
    Inputs in = inputs_for(c.options, 70);
    AttentionResult r64 = m64->forward(Var(in.query), Var(in.keys), Var(in.values), padding_of({5, 3, 1}));
    AttentionResult r32 = m->forward(Var(in.query.to(DType::f32)), Var(in.keys.to(DType::f32)),
                                     Var(in.values.to(DType::f32)), padding_of({5, 3, 1}));
    for (std::size_t i = 0; i < r64.context.size(); ++i) {
      CHECK(r32.context.value().at(i) == doctest::Approx(r64.context.value().at(i)).epsilon(1e-4));
    }
  }
  AdditiveAttention additive({.kind = AttentionKind::additive, .query_size = 2, .key_size = 3});
  std::unique_ptr<AdditiveAttention> twin = copy_as(additive, DType::f64);  // the template: concrete type kept
  CHECK(twin->v.dtype() == DType::f64);
  CHECK(twin->key_proj.weight.value().to(DType::f32).to_vector() == additive.key_proj.weight.value().to_vector());
}

TEST_CASE("attention: copy_as through the base copies a module converted with to() (options().dtype stale)") {
  for (const Config& c : configs()) {
    CAPTURE(c.name);
    manual_seed(9);
    std::unique_ptr<Attention> m = make_attention(c.options);  // built float32
    m->to(DType::f64);                                         // options().dtype still says float32
    for (DType dtype : {DType::f64, DType::f32}) {
      const std::string to_dtype = dtype_name(dtype);
      CAPTURE(to_dtype);
      std::unique_ptr<Attention> copy;
      REQUIRE_NOTHROW(copy = copy_as(static_cast<const Attention&>(*m), dtype));
      CHECK(copy->type_name() == m->type_name());
      const StateDict original = m->state_dict(), copied = copy->state_dict();
      REQUIRE(copied.size() == original.size());
      for (std::size_t i = 0; i < copied.size(); ++i) {
        CHECK(copied[i].name == original[i].name);
        CHECK(copied[i].value.dtype() == dtype);
        CHECK(copied[i].value.to_vector() == original[i].value.to(dtype).to_vector());
      }
    }
  }
}

TEST_CASE("attention: wrong shapes, dtypes and options are errors naming the kind, the argument and both shapes") {
  AdditiveAttention m({.kind = AttentionKind::additive, .query_size = 4, .key_size = 3, .value_size = 2});
  Var keys(Tensor::zeros({2, 5, 3})), values(Tensor::zeros({2, 5, 2})), query(Tensor::zeros({2, 4}));
  std::string e = error_of<ShapeError>([&] { m.prepare(Var(Tensor::zeros({2, 5, 4})), values); });
  CHECK(contains(e, "tg::AdditiveAttention (additive)"));
  CHECK(contains(e, "keys must be [B, S, Hk = 3]"));
  CHECK(contains(e, "got [2, 5, 4]"));
  e = error_of<ShapeError>([&] { m.prepare(Var(Tensor::zeros({5, 3})), values); });
  CHECK(contains(e, "got [5, 3]"));
  e = error_of<ShapeError>([&] { m.prepare(keys, Var(Tensor::zeros({2, 4, 2}))); });
  CHECK(contains(e, "values must be [B, S, Hv] = [2, 5, 2]"));
  CHECK(contains(e, "got [2, 4, 2]"));
  e = error_of<ShapeError>([&] { m.prepare(keys, values, Mask::from_shape({5, 2})); });
  CHECK(contains(e, "padding must be [B, S] = [2, 5]"));
  CHECK(contains(e, "got [5, 2]"));
  e = error_of<ShapeError>([&] { m.prepare(keys, Var(Tensor::zeros({2, 0, 2}))); });
  CHECK(contains(e, "values"));
  e = error_of<ShapeError>([&] { m.prepare(Var(Tensor::zeros({2, 0, 3})), Var(Tensor::zeros({2, 0, 2}))); });
  CHECK(contains(e, "S >= 1"));
  AttentionMemory memory = m.prepare(keys, values);
  e = error_of<ShapeError>([&] { m.attend(memory, Var(Tensor::zeros({3, 4}))); });
  CHECK(contains(e, "query must be [B, Hq] = [2, 4]"));
  CHECK(contains(e, "got [3, 4]"));
  e = error_of<DTypeError>([&] { m.attend(memory, Var(Tensor::zeros({2, 4}, DType::f64))); });
  CHECK(contains(e, "query is float64"));
  e = error_of<DTypeError>([&] {
    m.prepare(Var(Tensor::zeros({2, 5, 3}, DType::f64)), Var(Tensor::zeros({2, 5, 2}, DType::f64)));
  });
  CHECK(contains(e, "parameters are float32"));
  e = error_of<Error>([&] { m.attend(AttentionMemory{}, query); });
  CHECK(contains(e, "prepare()"));

  MultiHeadAttention mha({.kind = AttentionKind::multi_head, .query_size = 6, .key_size = 6, .num_heads = 2});
  AttentionMemory mha_memory = mha.prepare(Var(Tensor::zeros({2, 5, 6})), Var(Tensor::zeros({2, 5, 6})));
  e = error_of<ShapeError>([&] { mha.attend(mha_memory, Var(Tensor::zeros({2, 4}))); });
  CHECK(contains(e, "tg::MultiHeadAttention (multi_head)"));
  CHECK(contains(e, "[2, 6]"));

  e = error_of<Error>([] { DotAttention({.kind = AttentionKind::scaled_dot, .query_size = 4, .key_size = 3}); });
  CHECK(contains(e, "query_size (4) must equal key_size (3)"));
  e = error_of<Error>(
      [] { MultiHeadAttention({.kind = AttentionKind::multi_head, .query_size = 6, .key_size = 6, .num_heads = 4}); });
  CHECK(contains(e, "divisible by num_heads (4)"));
  e = error_of<Error>([] { GeneralAttention({.kind = AttentionKind::dot, .query_size = 3, .key_size = 3}); });
  CHECK(contains(e, "options.kind is dot, expected general"));
  e = error_of<Error>([] { make_attention({.kind = AttentionKind::additive, .query_size = 0, .key_size = 3}); });
  CHECK(contains(e, "must be positive"));
}

namespace {

const json& fixtures() {
  static const json data = test::load_fixtures("attention.json");
  return data;
}

Mask mask_of(const json& t) {
  Mask m = Mask::from_shape(test::shape_of(t));
  std::vector<int> data = t.at("data").get<std::vector<int>>();
  REQUIRE(data.size() == m.size());
  for (std::size_t i = 0; i < data.size(); ++i) m.data()[i] = data[i] != 0;
  return m;
}

AttentionOptions options_of(const json& k) {
  const json& o = k.at("options");
  AttentionOptions options{.kind = parse_attention_kind(k.at("kind").get<std::string>()),
                           .query_size = o.at("query_size").get<std::size_t>(),
                           .key_size = o.at("key_size").get<std::size_t>(),
                           .value_size = o.at("value_size").get<std::size_t>(),
                           .dtype = DType::f64};
  if (o.contains("attention_size")) options.attention_size = o.at("attention_size").get<std::size_t>();
  if (o.contains("num_heads")) options.num_heads = o.at("num_heads").get<std::size_t>();
  if (o.contains("bias")) options.bias = o.at("bias").get<bool>();
  return options;
}

// |got - want| <= rel |want| + floor, element by element.
void check_close(const Tensor& got, const json& want_json, double rel, double floor) {
  REQUIRE(got.shape() == test::shape_of(want_json));
  const std::vector<double> want = want_json.at("data").get<std::vector<double>>();
  for (std::size_t i = 0; i < want.size(); ++i) {
    CAPTURE(i);
    CAPTURE(want[i]);
    CHECK(std::abs(got.at(i) - want[i]) <= rel * std::abs(want[i]) + floor);
  }
}

void check_against_pytorch(const json& k, DType dtype, double rel, double floor) {
  auto m64 = make_attention(options_of(k));
  StateDict state;
  for (const auto& [name, value] : k.at("parameters").items()) state.push_back({name, test::tensor_of(value)});
  m64->load_state_dict(state);  // strict: every name must match PyTorch's, both ways
  if (k.contains("parameter_order")) {
    std::vector<std::string> names;
    for (const NamedVar& p : m64->named_parameters()) names.push_back(p.name);
    CHECK(names == k.at("parameter_order").get<std::vector<std::string>>());
  }
  auto m = copy_as(*m64, dtype);
  Var query(test::tensor_of(k.at("query"), dtype), true);
  Var keys(test::tensor_of(k.at("keys"), dtype), true);
  Var values(test::tensor_of(k.at("values"), dtype), true);
  const Mask padding = k.contains("padding") ? mask_of(k.at("padding")) : Mask{};
  AttentionResult r = m->forward(query, keys, values, padding);
  check_close(r.context.value(), k.at("context"), rel, floor);
  check_close(r.weights.value(), k.at("weights"), rel, floor);
  Var loss = sum(r.context * Var(test::tensor_of(k.at("r_context"), dtype))) +
             sum(r.weights * Var(test::tensor_of(k.at("r_weights"), dtype)));
  CHECK(std::abs(loss.item() - k.at("loss").get<double>()) <= rel * std::abs(k.at("loss").get<double>()) + floor);
  loss.backward();
  const json& grads = k.at("grads");
  for (const NamedVar& p : m->named_parameters()) {
    CAPTURE(p.name);
    check_close(p.var.grad(), grads.at(p.name), rel, floor);
  }
  check_close(query.grad(), grads.at("query"), rel, floor);
  check_close(keys.grad(), grads.at("keys"), rel, floor);
  check_close(values.grad(), grads.at("values"), rel, floor);
}

}  // namespace

TEST_CASE("attention matches PyTorch (nn.MultiheadAttention and the formulas) in float64 and float32") {
  std::set<std::string> kinds;
  for (const json& k : fixtures().at("cases")) {
    CAPTURE(k.at("name").get<std::string>());
    kinds.insert(k.at("kind").get<std::string>());
    INFO("float64");
    check_against_pytorch(k, DType::f64, 1e-10, 1e-13);
    INFO("float32");
    check_against_pytorch(k, DType::f32, 1e-5, 1e-6);
  }
  CHECK(kinds == std::set<std::string>{"additive", "dot", "general", "scaled_dot", "multi_head"});
}
