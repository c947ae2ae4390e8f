// Every public op, given an undefined Var (Var()) in each of its Var
// arguments, throws an Error naming the op, the argument and its input number,
// instead of dereferencing the missing node. main.cpp checks that every op
// recorded in ops/ was passed one here.
#include <doctest/doctest.h>

#include <string>
#include <tuple>
#include <vector>

#include "check.hpp"
#include "tapegrad.hpp"

using namespace tg;

namespace {

// Calls f, which passes an undefined Var as argument `arg` (input `input`) of `op`.
template <class F>
void expect_undefined(const std::string& op, const std::string& arg, std::size_t input, F&& f) {
  const std::string want =
      "op '" + op + "': argument '" + arg + "' (input " + std::to_string(input) + ") is an undefined Var";
  std::string got = "no error";
  try {
    f();
  } catch (const Error& e) {
    got = e.what();
  }
  INFO("expected: ", want);
  INFO("got: ", got);
  const bool named = got.find(want) != std::string::npos;
  CHECK(named);
  if (named) test::ops_checked_for_undefined().insert(op);
}

Var full(const Shape& shape) { return Var(Tensor::ones(shape, DType::f64)); }

}  // namespace

TEST_CASE("elementwise ops and activations name an undefined Var argument") {
  const Var u, d = full({2, 3});
  using Binary = Var (*)(const Var&, const Var&);
  using ScalarRight = Var (*)(const Var&, double);
  using ScalarLeft = Var (*)(double, const Var&);
  const std::vector<std::pair<const char*, Binary>> binary = {
      {"add", add}, {"sub", sub}, {"mul", mul}, {"div", div}, {"pow", pow}, {"maximum", maximum}, {"minimum", minimum}};
  for (const auto& entry : binary) {
    const auto& name = std::get<0>(entry);
    const auto& op = std::get<1>(entry);
    expect_undefined(name, "a", 0, [&] { op(u, d); });
    expect_undefined(name, "b", 1, [&] { op(d, u); });
    expect_undefined(name, "a", 0, [&] { op(u, u); });
  }
  const std::vector<std::pair<const char*, ScalarRight>> scalar_right = {
      {"add", add}, {"sub", sub}, {"mul", mul}, {"div", div}, {"pow", pow}, {"maximum", maximum}, {"minimum", minimum}};
  for (const auto& entry : scalar_right) {
    const auto& name = std::get<0>(entry);
    const auto& op = std::get<1>(entry);
    expect_undefined(name, "a", 0, [&] { op(u, 2.0); });
  }
  const std::vector<std::pair<const char*, ScalarLeft>> scalar_left = {
      {"add", add}, {"sub", sub}, {"mul", mul}, {"div", div}};
  for (const auto& entry : scalar_left) {
    const auto& name = std::get<0>(entry);
    const auto& op = std::get<1>(entry);
    expect_undefined(name, "b", 1, [&] { op(2.0, u); });
  }
  expect_undefined("add", "b", 1, [&] { (void)(d + u); });
  expect_undefined("sub", "b", 1, [&] { (void)(1.0 - u); });
  expect_undefined("mul", "a", 0, [&] { (void)(u * 3.0); });
  expect_undefined("neg", "x", 0, [&] { (void)(-u); });

  using Unary = Var (*)(const Var&);
  const std::vector<std::pair<const char*, Unary>> unary = {{"neg", neg},   {"exp", exp},         {"log", log},
                                                            {"sqrt", sqrt}, {"square", square},   {"abs", abs},
                                                            {"tanh", tanh}, {"sigmoid", sigmoid}, {"relu", relu}};
  for (const auto& entry : unary) {
    const auto& name = std::get<0>(entry);
    const auto& op = std::get<1>(entry);
    expect_undefined(name, "x", 0, [&] { op(u); });
  }
  expect_undefined("gelu", "x", 0, [&] { gelu(u); });
  expect_undefined("gelu", "x", 0, [&] { gelu(u, GeluApproximation::tanh); });
  expect_undefined("clamp", "x", 0, [&] { clamp(u, 0.0, 1.0); });
  expect_undefined("scalar_like", "x", 0, [&] { scalar_like(u, 1.0); });
}

TEST_CASE("index, loss, softmax, dropout and layer_norm ops name an undefined Var argument") {
  const Var u, d = full({2, 3});
  Indices ids = {0, 1};
  Indices index = {{0, 1, 0}};
  Mask mask = {true, false, true};
  expect_undefined("embedding", "weight", 0, [&] { embedding(u, ids); });
  expect_undefined("embedding", "weight", 0, [&] { embedding(u, ids, 0); });
  expect_undefined("gather", "x", 0, [&] { gather(u, 0, index); });
  expect_undefined("where", "a", 0, [&] { tg::where(mask, u, d); });
  expect_undefined("where", "b", 1, [&] { tg::where(mask, d, u); });
  expect_undefined("masked_fill", "x", 0, [&] { masked_fill(u, mask, 0.0); });
  expect_undefined("cross_entropy", "logits", 0, [&] { cross_entropy(u, ids); });
  expect_undefined("distillation_loss", "student_logits", 0, [&] { distillation_loss(u, Tensor::ones({2, 3}), ids); });
  expect_undefined("softmax", "x", 0, [&] { softmax(u); });
  expect_undefined("log_softmax", "x", 0, [&] { log_softmax(u, 0); });
  expect_undefined("layer_norm", "x", 0, [&] { layer_norm(u, {3}); });
  Generator gen(1);
  expect_undefined("dropout", "x", 0, [&] { dropout(u, 0.5, true, gen); });
  expect_undefined("dropout", "x", 0, [&] { dropout(u, 0.5, true); });
  // Not training, dropout returns its input: an undefined one must not pass through.
  expect_undefined("dropout", "x", 0, [&] { dropout(u, 0.5, false); });
  expect_undefined("dropout", "x", 0, [&] { dropout(u, 0.0, true, gen); });
}

TEST_CASE("reductions name an undefined Var argument in every overload") {
  const Var u;
  using All = Var (*)(const Var&);
  using Axis = Var (*)(const Var&, long, bool);
  using Axes = Var (*)(const Var&, const std::vector<long>&, bool);
  using List = Var (*)(const Var&, std::initializer_list<long>, bool);
  struct Overloads {
    const char* name;
    All all;
    Axis axis;
    Axes axes;
    List list;
  };
  const std::vector<Overloads> reductions = {{"sum", sum, sum, sum, sum},
                                             {"mean", mean, mean, mean, mean},
                                             {"max", max, max, max, max},
                                             {"logsumexp", logsumexp, logsumexp, logsumexp, logsumexp}};
  for (const Overloads& r : reductions) {
    expect_undefined(r.name, "x", 0, [&] { r.all(u); });
    expect_undefined(r.name, "x", 0, [&] { r.axis(u, 0, false); });
    expect_undefined(r.name, "x", 0, [&] { r.axes(u, std::vector<long>{0}, true); });
    expect_undefined(r.name, "x", 0, [&] { r.list(u, {0}, false); });
  }
}

TEST_CASE("matrix products name an undefined Var argument") {
  const Var u, m = full({2, 2}), row = full({2});
  expect_undefined("matmul", "a", 0, [&] { matmul(u, m); });
  expect_undefined("matmul", "b", 1, [&] { matmul(m, u, false, true); });
  expect_undefined("addmm", "c", 0, [&] { addmm(u, m, m); });
  expect_undefined("addmm", "a", 1, [&] { addmm(m, u, m); });
  expect_undefined("addmm", "b", 2, [&] { addmm(row, m, u, false, true); });
  expect_undefined("linear", "x", 0, [&] { linear(u, m); });
  expect_undefined("linear", "weight", 1, [&] { linear(m, u); });
  expect_undefined("linear", "x", 0, [&] { linear(u, m, row); });
  expect_undefined("linear", "weight", 1, [&] { linear(m, u, row); });
  expect_undefined("linear", "bias", 2, [&] { linear(m, m, u); });
  expect_undefined("linear_pair", "x1", 0, [&] { linear_pair(u, m, m, m); });
  expect_undefined("linear_pair", "w1", 1, [&] { linear_pair(m, u, m, m, row); });
  expect_undefined("linear_pair", "x2", 2, [&] { linear_pair(m, m, u, m, row, row); });
  expect_undefined("linear_pair", "w2", 3, [&] { linear_pair(m, m, m, u); });
  // The biases are optional: undefined ones are left out, as documented.
  CHECK(linear_pair(m, m, m, m, Var(), row).shape() == Shape{2, 2});
}

TEST_CASE("fused recurrent and attention ops name an undefined Var argument") {
  const Var u, gates4 = full({2, 8}), gates3 = full({2, 6}), state = full({2, 2});
  expect_undefined("lstm_cell_state", "gates", 0, [&] { lstm_cell_state(u, state); });
  expect_undefined("lstm_cell_state", "c", 1, [&] { lstm_cell_state(gates4, u); });
  expect_undefined("lstm_cell_output", "gates", 0, [&] { lstm_cell_output(u, state); });
  expect_undefined("lstm_cell_output", "c_next", 1, [&] { lstm_cell_output(gates4, u); });
  expect_undefined("gru_cell", "x_gates", 0, [&] { gru_cell(u, gates3, state); });
  expect_undefined("gru_cell", "h_gates", 1, [&] { gru_cell(gates3, u, state); });
  expect_undefined("gru_cell", "h", 2, [&] { gru_cell(gates3, gates3, u); });
  const Var keys = full({2, 3, 4}), query = full({2, 4}), v = full({4});
  expect_undefined("additive_scores", "keys", 0, [&] { additive_scores(u, query, v); });
  expect_undefined("additive_scores", "query", 1, [&] { additive_scores(keys, u, v); });
  expect_undefined("additive_scores", "v", 2, [&] { additive_scores(keys, query, u); });
  const Var q = full({1, 2, 4}), kv = full({2, 3, 2});
  const HeadAttentionOptions two_heads{.heads = 2};
  expect_undefined("attend_heads", "query", 0, [&] { attend_heads(u, kv, kv, two_heads); });
  expect_undefined("attend_heads", "keys", 1, [&] { attend_heads(q, u, kv, two_heads); });
  expect_undefined("attend_heads", "values", 2, [&] { attend_heads(q, kv, u, two_heads); });
  expect_undefined("self_attend_heads", "qkv", 0, [&] { self_attend_heads(u, two_heads); });
}

TEST_CASE("shape ops name an undefined Var argument, in lists by its position") {
  const Var u, d = full({2, 3});
  expect_undefined("reshape", "x", 0, [&] { reshape(u, Shape{6}); });
  expect_undefined("reshape", "x", 0, [&] { reshape(u, {-1}); });
  expect_undefined("reshape", "x", 0, [&] { reshape(u, {std::size_t{6}}); });
  expect_undefined("reshape", "x", 0, [&] { reshape(u, std::vector<long>{2, 3}); });
  expect_undefined("transpose", "x", 0, [&] { transpose(u, 0, 1); });
  expect_undefined("permute", "x", 0, [&] { permute(u, {1, 0}); });
  expect_undefined("squeeze", "x", 0, [&] { squeeze(u, 0); });
  expect_undefined("squeeze", "x", 0, [&] { squeeze(u); });
  expect_undefined("unsqueeze", "x", 0, [&] { unsqueeze(u, 0); });
  expect_undefined("broadcast_to", "x", 0, [&] { broadcast_to(u, Shape{2, 3}); });
  expect_undefined("concat", "xs[0]", 0, [&] { concat({u, d}, 0); });
  expect_undefined("concat", "xs[2]", 2, [&] { concat({d, d, u}, 0); });
  expect_undefined("stack", "xs[0]", 0, [&] { stack({u}, 0); });
  expect_undefined("stack", "xs[1]", 1, [&] { stack({d, u}, 0); });
  expect_undefined("slice", "x", 0, [&] { slice(u, 0, 0, 1); });
  expect_undefined("split", "x", 0, [&] { split(u, {1, 1}, 0); });
  expect_undefined("chunk", "x", 0, [&] { chunk(u, 2, 0); });
}

TEST_CASE("the undefined-Var message names the scope as other errors do") {
  NameScope scope("decoder");
  CHECK_THROWS_WITH_AS(add(Var(), Var()),
                       doctest::Contains("op 'add' in scope 'decoder': argument 'a' (input 0) is an undefined Var "
                                         "(default-constructed)"),
                       Error);
}
