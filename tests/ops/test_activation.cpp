#include "check.hpp"
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
