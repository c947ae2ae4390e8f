#include <cmath>

#include "check.hpp"
#include "ops/elementwise.hpp"
#include "tapegrad.hpp"

using namespace tg;
using tg::test::broadcast_cases;
using tg::test::expect_gradcheck;
using tg::test::rand;
using tg::test::randn;

TEST_CASE("binary elementwise ops pass gradcheck with broadcasting") {
  std::uint64_t seed = 1;
  for (auto [sa, sb] : broadcast_cases()) {
    CAPTURE(shape_str(sa));
    CAPTURE(shape_str(sb));
    Tensor a = randn(sa, seed++), b = randn(sb, seed++);
    expect_gradcheck([](const std::vector<Var>& x) { return add(x[0], x[1]); }, {a, b});
    expect_gradcheck([](const std::vector<Var>& x) { return sub(x[0], x[1]); }, {a, b});
    expect_gradcheck([](const std::vector<Var>& x) { return mul(x[0], x[1]); }, {a, b});
    expect_gradcheck([](const std::vector<Var>& x) { return maximum(x[0], x[1]); }, {a, b});
    expect_gradcheck([](const std::vector<Var>& x) { return minimum(x[0], x[1]); }, {a, b});
    Tensor away_from_zero = rand(sb, 0.5, 2.0, seed++);
    expect_gradcheck([](const std::vector<Var>& x) { return div(x[0], x[1]); }, {a, away_from_zero});
    Tensor positive = rand(sa, 0.5, 2.0, seed++);
    expect_gradcheck([](const std::vector<Var>& x) { return pow(x[0], x[1]); }, {positive, b});
  }
}

TEST_CASE("scalar forms and operators pass gradcheck") {
  Tensor a = randn({2, 3}, 11);
  Tensor positive = rand({2, 3}, 0.5, 2.0, 12);
  expect_gradcheck([](const std::vector<Var>& x) { return 2.0 * x[0] + 1.5 - x[0] / 4.0; }, {a});
  expect_gradcheck([](const std::vector<Var>& x) { return 3.0 - x[0] * 0.5; }, {a});
  expect_gradcheck([](const std::vector<Var>& x) { return 1.0 / x[0]; }, {positive});
  expect_gradcheck([](const std::vector<Var>& x) { return pow(x[0], 2.5); }, {positive});
  expect_gradcheck([](const std::vector<Var>& x) { return maximum(x[0], 0.1) + minimum(x[0], -0.1); }, {a});
  expect_gradcheck([](const std::vector<Var>& x) { return -x[0]; }, {a});
}

TEST_CASE("unary math ops pass gradcheck") {
  for (Shape s : {Shape{5}, Shape{2, 1, 3}, Shape{}, Shape{1, 1}}) {
    CAPTURE(shape_str(s));
    Tensor x = randn(s, 21);
    Tensor positive = rand(s, 0.5, 2.0, 22);
    expect_gradcheck([](const std::vector<Var>& v) { return neg(v[0]); }, {x});
    expect_gradcheck([](const std::vector<Var>& v) { return exp(v[0]); }, {x});
    expect_gradcheck([](const std::vector<Var>& v) { return log(v[0]); }, {positive});
    expect_gradcheck([](const std::vector<Var>& v) { return sqrt(v[0]); }, {positive});
    expect_gradcheck([](const std::vector<Var>& v) { return square(v[0]); }, {x});
    expect_gradcheck([](const std::vector<Var>& v) { return abs(v[0]); }, {positive});
    expect_gradcheck([](const std::vector<Var>& v) { return abs(neg(v[0])); }, {positive});
    // Values at least 0.05 away from the bounds keep finite differences off the kinks.
    Tensor spread = Tensor::from_vector(std::vector<double>(x.size(), 0.0), s, DType::f64);
    for (std::size_t i = 0; i < spread.size(); ++i) spread.set(i, -1.25 + 0.6 * static_cast<double>(i % 5));
    expect_gradcheck([](const std::vector<Var>& v) { return clamp(v[0], -0.5, 0.5); }, {spread});
  }
}

TEST_CASE("binary ops name the op and both shapes when shapes do not broadcast") {
  Var a(Tensor::zeros({2, 3})), b(Tensor::zeros({4}));
  CHECK_THROWS_WITH_AS(add(a, b), doctest::Contains("op 'add'"), ShapeError);
  CHECK_THROWS_WITH_AS(mul(a, b), doctest::Contains("[2, 3] and [4]"), ShapeError);
  NameScope scope("decoder");
  CHECK_THROWS_WITH_AS(sub(a, b), doctest::Contains("scope 'decoder'"), ShapeError);
}

TEST_CASE("binary ops reject mixed dtypes by name") {
  Var a(Tensor::zeros({2}, DType::f32)), b(Tensor::zeros({2}, DType::f64));
  CHECK_THROWS_WITH_AS(add(a, b), doctest::Contains("float32"), DTypeError);
}

TEST_CASE("elementwise values match closed forms in float32 and float64") {
  for (DType dt : {DType::f32, DType::f64}) {
    Var a(Tensor::from_vector({1, 2, 3}, {3}, dt)), b(Tensor::from_vector({2}, {1}, dt));
    CHECK((a * b).value().to_vector() == std::vector<double>{2, 4, 6});
    CHECK((a - b).value().to_vector() == std::vector<double>{-1, 0, 1});
    CHECK(maximum(a, b).value().to_vector() == std::vector<double>{2, 2, 3});
    CHECK(clamp(a, 1.5, 2.5).value().to_vector() == std::vector<double>{1.5, 2, 2.5});
    CHECK(pow(a, 2.0).value().to_vector() == std::vector<double>{1, 4, 9});
    CHECK((a / b).value().dtype() == dt);
  }
}

TEST_CASE("maximum splits the gradient evenly on ties, as PyTorch") {
  Var a(Tensor::from_vector({1, 2}, {2}, DType::f64), true), b(Tensor::from_vector({1, 3}, {2}, DType::f64), true);
  Var y = maximum(a, b);
  y.backward(Tensor::ones({2}, DType::f64));
  CHECK(a.grad().to_vector() == std::vector<double>{0.5, 0});
  CHECK(b.grad().to_vector() == std::vector<double>{0.5, 1});
}
