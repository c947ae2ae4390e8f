#include <cmath>
#include <tuple>

#include <xtensor/xreducer.hpp>

#include "check.hpp"
#include "tapegrad.hpp"
#include "tapegrad/ops/elementwise.hpp"

using namespace tg;
using tg::test::broadcast_cases;
using tg::test::expect_gradcheck;
using tg::test::rand;
using tg::test::randn;

TEST_CASE("binary elementwise ops pass gradcheck with broadcasting") {
  std::uint64_t seed = 1;
  for (const auto& entry : broadcast_cases()) {
    const auto& sa = std::get<0>(entry);
    const auto& sb = std::get<1>(entry);
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

TEST_CASE("arithmetic's flat loops equal xtensor's broadcasting, in values and in reduced gradients") {
  // The row-broadcast fast path (equal shapes, a suffix repeated over rows, a
  // scalar) and the fallback (a middle axis of size 1) against xtensor itself.
  std::vector<std::pair<Shape, Shape>> cases = broadcast_cases();
  cases.emplace_back(Shape{4, 1}, Shape{4, 6});
  cases.emplace_back(Shape{6}, Shape{2, 1, 6});
  cases.emplace_back(Shape{2, 3, 6}, Shape{1, 3, 6});
  cases.emplace_back(Shape{1, 1, 5}, Shape{2, 5});
  std::uint64_t seed = 900;
  for (const auto& entry : cases) {
    const auto& sa = std::get<0>(entry);
    const auto& sb = std::get<1>(entry);
    CAPTURE(shape_str(sa));
    CAPTURE(shape_str(sb));
    Tensor a = randn(sa, seed++), b = rand(sb, 0.5, 2.0, seed++);
    const Array<double>& xa = a.array<double>();
    const Array<double>& xb = b.array<double>();
    auto same = [](const Var& y, const Array<double>& expected) {
      CHECK(y.shape() == Shape(expected.shape().begin(), expected.shape().end()));
      CHECK(y.value().array<double>() == expected);
    };
    same(add(Var(a), Var(b)), Array<double>(xa + xb));
    same(add(Var(b), Var(a)), Array<double>(xb + xa));
    same(sub(Var(a), Var(b)), Array<double>(xa - xb));
    same(mul(Var(a), Var(b)), Array<double>(xa * xb));
    same(div(Var(a), Var(b)), Array<double>(xa / xb));
    // The gradient of each input is dy summed down to its shape (sum_to_shape).
    Var va(a, true), vb(b, true);
    Var y = add(va, vb);
    Tensor dy = randn(y.shape(), seed++);
    y.backward(dy);
    std::vector<std::size_t> axes_a, axes_b;
    const Shape& sy = y.shape();
    for (std::size_t d = 0; d < sy.size(); ++d) {
      const std::size_t lead_a = sy.size() - sa.size(), lead_b = sy.size() - sb.size();
      if (d < lead_a || (sa[d - lead_a] == 1 && sy[d] != 1)) axes_a.push_back(d);
      if (d < lead_b || (sb[d - lead_b] == 1 && sy[d] != 1)) axes_b.push_back(d);
    }
    Array<double> ga = xt::sum(dy.array<double>(), axes_a), gb = xt::sum(dy.array<double>(), axes_b);
    ga.reshape(sa);
    gb.reshape(sb);
    CHECK(xt::allclose(va.grad().array<double>(), ga, 1e-12, 1e-12));
    CHECK(xt::allclose(vb.grad().array<double>(), gb, 1e-12, 1e-12));
  }
}
