// layer_norm: float64 gradchecks over ranks 1 to 3 and size-1 dims, with and
// without weight and bias; torch.nn.functional.layer_norm's values and gradients
// (tests/fixtures/layer_norm.json, tools/fixtures/gen_layer_norm_fixtures.py);
// float32 against float64; errors that name the op, the argument and the shapes.
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "check.hpp"
#include "errors.hpp"
#include "fixtures.hpp"
#include "tapegrad.hpp"

using namespace tg;
using nlohmann::json;
using test::expect_gradcheck;
using test::randn;
using tg::test::contains;
using tg::test::error_of;

namespace {

// Which of weight and bias a call passes.
struct Affine {
  bool weight, bias;
};
constexpr Affine affine_kinds[] = {{true, true}, {true, false}, {false, true}, {false, false}};

// layer_norm(v[0], normalized_shape, ...) with weight and bias taken from v in that order where given.
Var layer_norm_of(const std::vector<Var>& v, const Shape& normalized_shape, Affine a, double eps = 1e-5) {
  std::size_t next = 1;
  Var weight = a.weight ? v[next++] : Var();
  Var bias = a.bias ? v[next++] : Var();
  return layer_norm(v[0], normalized_shape, weight, bias, eps);
}

// The x tensor of a fixture, NaN where JSON holds null.
Tensor tensor_with_nan(const json& t) {
  Array<double> out = Array<double>::from_shape(test::shape_of(t));
  std::size_t i = 0;
  for (const json& v : t.at("data"))
    out.data()[i++] = v.is_null() ? std::numeric_limits<double>::quiet_NaN() : v.get<double>();
  return Tensor(std::move(out));
}

// Element by element within 1e-10 (relative + absolute); null in the fixture means NaN.
void check_fixture(const Tensor& got, const json& want) {
  REQUIRE(got.shape() == test::shape_of(want));
  const json& data = want.at("data");
  for (std::size_t i = 0; i < data.size(); ++i) {
    CAPTURE(i);
    if (data[i].is_null()) {
      CHECK(std::isnan(got.at(i)));
    } else {
      const double w = data[i].get<double>();
      CHECK(std::abs(got.at(i) - w) <= 1e-10 * std::abs(w) + 1e-10);
    }
  }
}

}  // namespace

TEST_CASE("layer_norm passes gradcheck: ranks 1 to 3, size-1 dims, with and without weight and bias") {
  struct Case {
    Shape x, normalized;
  };
  const std::vector<Case> cases = {{{5}, {5}},       {{1}, {1}},       {{1, 4}, {4}},       {{3, 1}, {1}},
                                   {{3, 4}, {4}},    {{2, 3, 4}, {4}}, {{2, 3, 4}, {3, 4}}, {{2, 1, 3}, {1, 3}},
                                   {{1, 1, 2}, {2}}, {{2, 3}, {2, 3}}};
  std::uint64_t seed = 700;
  for (const Case& c : cases) {
    for (Affine a : affine_kinds) {
      CAPTURE(shape_str(c.x));
      CAPTURE(shape_str(c.normalized));
      CAPTURE(a.weight);
      CAPTURE(a.bias);
      std::vector<Tensor> inputs{randn(c.x, seed++)};
      if (a.weight) inputs.push_back(randn(c.normalized, seed++));
      if (a.bias) inputs.push_back(randn(c.normalized, seed++));
      expect_gradcheck([&](const std::vector<Var>& v) { return layer_norm_of(v, c.normalized, a); }, inputs);
    }
  }
}

TEST_CASE("layer_norm passes gradcheck with a large eps and with x also used elsewhere (gradients add up)") {
  const Tensor x = randn({3, 4}, 720), w = randn({4}, 721), b = randn({4}, 722);
  expect_gradcheck([](const std::vector<Var>& v) { return layer_norm_of(v, {4}, {true, true}, 0.5); }, {x, w, b});
  // x's gradient from the residual add is gathered before layer_norm's backward adds its own.
  expect_gradcheck(
      [](const std::vector<Var>& v) {
        return layer_norm_of(v, {4}, {true, true}) * v[0] + v[0] * v[1];
      },
      {x, w, b});
}

TEST_CASE("layer_norm matches torch.nn.functional.layer_norm: eps, constant rows, NaN, no affine") {
  const json fixtures = test::load_fixtures("layer_norm.json");
  const json& cases = fixtures.at("layer_norm");
  REQUIRE(cases.size() >= 9);
  for (const json& k : cases) {
    CAPTURE(k.at("name").get<std::string>());
    Var x(tensor_with_nan(k.at("x")), true);
    Var weight = k.contains("weight") ? Var(test::tensor_of(k.at("weight")), true) : Var();
    Var bias = k.contains("bias") ? Var(test::tensor_of(k.at("bias")), true) : Var();
    Var y = layer_norm(x, k.at("normalized_shape").get<std::vector<std::size_t>>(), weight, bias,
                       k.at("eps").get<double>());
    check_fixture(y.value(), k.at("y"));
    y.backward(test::tensor_of(k.at("grad_output")));
    check_fixture(x.grad(), k.at("dx"));
    if (weight.defined()) check_fixture(weight.grad(), k.at("dweight"));
    if (bias.defined()) check_fixture(bias.grad(), k.at("dbias"));
  }
}

TEST_CASE("layer_norm in float32 is within an ulp or two of float64 on the same values, even far from 0") {
  // Rows centred at 1e4 with spread 1: E[x^2] - E[x]^2 in float would lose every digit.
  for (double offset : {0.0, 1e4}) {
    CAPTURE(offset);
    const Tensor x64 = (Var(randn({64, 48}, 730)) + offset).value().to(DType::f32).to(DType::f64);
    const Tensor w64 = randn({48}, 731).to(DType::f32).to(DType::f64),
                 b64 = randn({48}, 732).to(DType::f32).to(DType::f64);
    const Tensor g64 = randn({64, 48}, 733).to(DType::f32).to(DType::f64);
    std::vector<std::vector<double>> results[2];
    for (DType dt : {DType::f64, DType::f32}) {
      Var x(x64.to(dt), true), w(w64.to(dt), true), b(b64.to(dt), true);
      Var y = layer_norm(x, {48}, w, b);
      y.backward(g64.to(dt));
      results[dt == DType::f32] = {y.value().to_vector(), x.grad().to_vector(), w.grad().to_vector(),
                                   b.grad().to_vector()};
    }
    for (std::size_t i = 0; i < 4; ++i) {
      CAPTURE(i);  // y, dx, dweight, dbias
      CHECK(test::relative_gap(results[1][i], results[0][i]) < 2.5e-7);
    }
  }
}

TEST_CASE("layer_norm of no rows, and of rows of no elements, gives empty results") {
  Var x(Tensor::zeros({0, 3}, DType::f64), true), w(Tensor::ones({3}, DType::f64), true);
  Var y = layer_norm(x, {3}, w);
  CHECK(y.shape() == Shape{0, 3});
  sum(y).backward();
  CHECK(x.grad().shape() == Shape{0, 3});
  CHECK(w.grad().to_vector() == std::vector<double>{0, 0, 0});
  Var empty_rows(Tensor::zeros({2, 0}, DType::f32), true), no_weight(Tensor::ones({0}, DType::f32), true);
  Var z = layer_norm(empty_rows, {0}, no_weight);
  CHECK(z.shape() == Shape{2, 0});
  sum(z).backward();
  CHECK(no_weight.grad().shape() == Shape{0});
}

TEST_CASE("layer_norm names the op, the argument and the shapes of a bad input") {
  const Var x(Tensor::zeros({2, 3, 4}, DType::f64));
  std::string e = error_of<ShapeError>([&] { layer_norm(x, {3}); });
  CHECK(contains(e, "op 'layer_norm'"));
  CHECK(contains(e, "x [2, 3, 4] must end in normalized_shape [3]"));
  e = error_of<ShapeError>([&] { layer_norm(x, {1, 2, 3, 4}); });
  CHECK(contains(e, "x [2, 3, 4] must end in normalized_shape [1, 2, 3, 4]"));
  e = error_of<ShapeError>([&] { layer_norm(x, {}); });
  CHECK(contains(e, "must name at least one dim"));
  e = error_of<ShapeError>([&] { layer_norm(x, {4}, Var(Tensor::ones({3}, DType::f64))); });
  CHECK(contains(e, "op 'layer_norm'"));
  CHECK(contains(e, "weight [3] must have normalized_shape [4]"));
  e = error_of<ShapeError>([&] { layer_norm(x, {3, 4}, Var(), Var(Tensor::ones({4}, DType::f64))); });
  CHECK(contains(e, "bias [4] must have normalized_shape [3, 4]"));
  e = error_of<DTypeError>([&] { layer_norm(x, {4}, Var(Tensor::ones({4}, DType::f32))); });
  CHECK(contains(e, "op 'layer_norm'"));
  CHECK(contains(e, "weight [4] is float32 but x [2, 3, 4] is float64"));
}
