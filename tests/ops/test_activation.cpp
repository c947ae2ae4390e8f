#include "check.hpp"
#include "fixtures.hpp"
#include "tapegrad/ops/activation.hpp"
#include "tapegrad/ops/elementwise.hpp"
#include "tapegrad/ops/reduce.hpp"

#include <cmath>
#include <limits>

using namespace tg;
using tg::test::expect_gradcheck;
using tg::test::randn;

TEST_CASE("activations pass gradcheck") {
  for (Shape s : {Shape{7}, Shape{2, 1, 3}, Shape{}, Shape{1, 4}}) {
    CAPTURE(shape_str(s));
    Tensor x = randn(s, 31);
    expect_gradcheck([](const std::vector<Var>& v) { return tanh(v[0]); }, {x});
    expect_gradcheck([](const std::vector<Var>& v) { return sigmoid(v[0]); }, {x});
    // relu away from its kink at 0
    Tensor off_zero = x;
    for (std::size_t i = 0; i < off_zero.size(); ++i)
      off_zero.set(i, off_zero.at(i) + (off_zero.at(i) >= 0 ? 0.1 : -0.1));
    expect_gradcheck([](const std::vector<Var>& v) { return relu(v[0]); }, {off_zero});
  }
}

TEST_CASE("sigmoid and tanh saturate without NaN at extreme inputs") {
  Var x(Tensor::from_vector({-1000, -50, 0, 50, 1000}, {5}));
  std::vector<double> s = sigmoid(x).value().to_vector();
  CHECK(s[0] == 0);
  CHECK(s[1] < 1e-20);
  CHECK(s[2] == 0.5);
  CHECK(s[4] == 1);
  CHECK(all_finite(tanh(x).value()));
  CHECK(relu(x).value().to_vector() == std::vector<double>{0, 0, 0, 50, 1000});
}

TEST_CASE("NaN propagates through relu, maximum, minimum, clamp and max as in PyTorch") {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  for (DType dt : {DType::f32, DType::f64}) {
    CAPTURE(dtype_name(dt));
    Var x(Tensor::from_vector({nan, -1, 2}, {3}, dt));
    Var y(Tensor::from_vector({0, nan, 1}, {3}, dt));
    std::vector<double> r = relu(x).value().to_vector();
    CHECK(std::isnan(r[0]));
    CHECK(r[1] == 0.0);
    CHECK(r[2] == 2.0);
    for (const Var& m : {maximum(x, y), minimum(x, y)}) {
      std::vector<double> v = m.value().to_vector();
      CHECK(std::isnan(v[0]));  // NaN on the left
      CHECK(std::isnan(v[1]));  // NaN on the right
      CHECK_FALSE(std::isnan(v[2]));
    }
    CHECK(maximum(x, y).value().at(2) == 2.0);
    CHECK(minimum(x, y).value().at(2) == 1.0);
    CHECK(std::isnan(maximum(x, 0.0).value().at(0)));
    CHECK(std::isnan(minimum(x, 0.0).value().at(0)));
    std::vector<double> c = clamp(x, -0.5, 0.5).value().to_vector();
    CHECK(std::isnan(c[0]));
    CHECK(c[1] == -0.5);
    CHECK(c[2] == 0.5);
    CHECK(std::isnan(max(x).item()));
  }
}

TEST_CASE("gelu (exact and tanh) passes gradcheck, kink-free at 0") {
  for (Shape s : {Shape{7}, Shape{2, 1, 3}, Shape{}, Shape{1, 4}}) {
    CAPTURE(shape_str(s));
    Tensor x = randn(s, 37);
    expect_gradcheck([](const std::vector<Var>& v) { return gelu(v[0]); }, {x});
    expect_gradcheck([](const std::vector<Var>& v) { return gelu(v[0], GeluApproximation::tanh); }, {x});
  }
  expect_gradcheck([](const std::vector<Var>& v) { return gelu(v[0]); }, {Tensor::zeros({3}, DType::f64)});
  // gelu broadcasts nothing itself; its gradient un-broadcasts through the product after it.
  expect_gradcheck([](const std::vector<Var>& v) { return gelu(v[0]) * v[1]; },
                   {randn({2, 1, 3}, 38), randn({4, 1}, 39)});
}

TEST_CASE("gelu matches torch.nn.functional.gelu and its derivative (tests/fixtures/transformer.json)") {
  const nlohmann::json fixtures = test::load_fixtures("transformer.json").at("gelu");
  const std::vector<double> x = fixtures.at("x").get<std::vector<double>>();
  // Not a structured binding: clang 14 cannot capture one in CAPTURE's lambda.
  for (const auto& kind : {std::pair{"none", GeluApproximation::none}, std::pair{"tanh", GeluApproximation::tanh}}) {
    const std::string name = kind.first;
    const GeluApproximation approximate = kind.second;
    CAPTURE(name);
    const std::vector<double> want_y = fixtures.at(name).at("y").get<std::vector<double>>();
    const std::vector<double> want_dy = fixtures.at(name).at("dy_dx").get<std::vector<double>>();
    for (DType dt : {DType::f64, DType::f32}) {
      CAPTURE(dtype_name(dt));
      // float32: the project's tolerances against float64 references (tests/models/test_attention.cpp).
      const double rel = dt == DType::f64 ? 1e-13 : 1e-5, floor = dt == DType::f64 ? 1e-15 : 1e-6;
      Var v(Tensor::from_vector(x, {x.size()}, dt), true);
      Var y = gelu(v, approximate);
      sum(y).backward();
      for (std::size_t i = 0; i < x.size(); ++i) {
        CAPTURE(x[i]);
        CHECK(std::abs(y.value().at(i) - want_y[i]) <= rel * std::abs(want_y[i]) + floor);
        CHECK(std::abs(v.grad().at(i) - want_dy[i]) <= rel * std::abs(want_dy[i]) + floor);
      }
    }
  }
}

TEST_CASE("gelu: 0 at 0 with slope 1/2, x for large x, 0 for very negative x, NaN propagates") {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  for (GeluApproximation a : {GeluApproximation::none, GeluApproximation::tanh}) {
    for (DType dt : {DType::f32, DType::f64}) {
      CAPTURE(dtype_name(dt));
      CHECK(std::isnan(gelu(Var(Tensor::from_vector({nan}, {1}, dt)), a).value().at(0)));
      Var x(Tensor::from_vector({0.0, 30.0, -30.0}, {3}, dt), true);
      Var y = gelu(x, a);
      sum(y).backward();
      CHECK(y.value().at(0) == 0.0);
      CHECK(y.value().at(1) == 30.0);
      CHECK(y.value().at(2) == doctest::Approx(0.0));
      CHECK(x.grad().at(0) == 0.5);
      CHECK(x.grad().at(1) == 1.0);
      CHECK(x.grad().at(2) == doctest::Approx(0.0));
    }
  }
}
