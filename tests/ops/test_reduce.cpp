#include <cmath>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "check.hpp"
#include "tapegrad/autodiff/mode.hpp"
#include "tapegrad/autodiff/scope.hpp"
#include "tapegrad/autodiff/tape.hpp"
#include "tapegrad/ops/reduce.hpp"

using namespace tg;
using tg::test::expect_gradcheck;
using tg::test::randn;

namespace {

constexpr double inf = std::numeric_limits<double>::infinity();

using Reduction = std::function<Var(const Var&, const std::vector<long>&, bool)>;

struct NamedReduction {
  const char* name;
  Reduction f;
};

std::vector<NamedReduction> reductions() {
  return {
      {"sum", [](const Var& x, const std::vector<long>& a, bool k) { return sum(x, a, k); }},
      {"mean", [](const Var& x, const std::vector<long>& a, bool k) { return mean(x, a, k); }},
      {"max", [](const Var& x, const std::vector<long>& a, bool k) { return max(x, a, k); }},
      {"logsumexp", [](const Var& x, const std::vector<long>& a, bool k) { return logsumexp(x, a, k); }},
  };
}

// The shapes and a rank-0 one, built in place: copying an empty Shape out of
// an initializer list trips GCC 12's -Wmaybe-uninitialized inside xtensor.
std::vector<Shape> with_rank0(std::vector<Shape> shapes) {
  shapes.emplace_back();
  return shapes;
}

// Every subset of a rank-r tensor's axes, in positive form.
std::vector<std::vector<long>> axis_subsets(std::size_t rank) {
  std::vector<std::vector<long>> subsets;
  for (std::size_t bits = 0; bits < (std::size_t{1} << rank); ++bits) {
    std::vector<long> axes;
    for (std::size_t d = 0; d < rank; ++d)
      if (bits & (std::size_t{1} << d)) axes.push_back(static_cast<long>(d));
    subsets.push_back(axes);
  }
  return subsets;
}

// Straight from the definition: each input element's multi-index, with the
// reduced dims dropped, picks its output slot; the slot's values are combined.
std::vector<double> naive_reduce(const std::string& op, const Tensor& x, const std::vector<long>& axes) {
  const Shape& s = x.shape();
  std::vector<bool> reduced(s.size(), false);
  for (long a : axes) reduced[static_cast<std::size_t>(a)] = true;
  std::size_t out_size = 1;
  for (std::size_t d = 0; d < s.size(); ++d)
    if (!reduced[d]) out_size *= s[d];
  std::vector<std::vector<double>> slots(out_size);
  std::vector<double> v = x.to_vector();
  for (std::size_t flat = 0; flat < v.size(); ++flat) {
    std::size_t rest = flat, out = 0, stride = 1;
    for (std::size_t d = s.size(); d-- > 0;) {
      std::size_t i = rest % s[d];
      rest /= s[d];
      if (!reduced[d]) {
        out += i * stride;
        stride *= s[d];
      }
    }
    slots[out].push_back(v[flat]);
  }
  std::vector<double> y;
  for (const auto& slot : slots) {
    double r = op == "max" ? -inf : 0;
    for (double e : slot) r = op == "max" ? std::max(r, e) : op == "logsumexp" ? r + std::exp(e) : r + e;
    if (op == "mean") r /= static_cast<double>(slot.size());
    if (op == "logsumexp") r = std::log(r);
    y.push_back(r);
  }
  return y;
}

Shape expected_shape(const Shape& s, const std::vector<long>& axes, bool keepdims) {
  Shape out;
  for (std::size_t d = 0; d < s.size(); ++d) {
    bool r = std::find(axes.begin(), axes.end(), static_cast<long>(d)) != axes.end();
    if (!r)
      out.push_back(s[d]);
    else if (keepdims)
      out.push_back(1);
  }
  return out;
}

// x's gradient after backward from f(x) with seed `seed` (ones when undefined).
Tensor grad_of(const std::function<Var(const Var&)>& f, const Tensor& value, Tensor seed = Tensor()) {
  Var x(value, true);
  Var y = f(x);
  y.backward(seed.defined() ? seed : Tensor::ones(y.shape(), y.dtype()));
  return x.grad();
}

}  // namespace

TEST_CASE("reductions pass gradcheck over every subset of axes, with and without keepdims") {
  std::uint64_t seed = 300;
  for (const Shape& s :
       with_rank0({Shape{1}, Shape{5}, Shape{3, 4}, Shape{1, 4}, Shape{4, 1}, Shape{2, 1, 3}, Shape{2, 3, 4}})) {
    Tensor x = randn(s, seed++);
    for (const auto& r : reductions()) {
      CAPTURE(r.name);
      CAPTURE(shape_str(s));
      for (const std::vector<long>& axes : axis_subsets(s.size())) {
        for (bool keepdims : {false, true}) {
          CAPTURE(fmt::format("[{}]", fmt::join(axes, ", ")));
          CAPTURE(keepdims);
          auto f = r.f;
          expect_gradcheck([f, axes, keepdims](const std::vector<Var>& v) { return f(v[0], axes, keepdims); }, {x});
        }
      }
    }
  }
}

TEST_CASE("every overload passes gradcheck: all elements, one axis (negative too), an axis list") {
  Tensor x = randn({2, 3, 4}, 320);
  auto check = [&](const GradcheckFn& f) { expect_gradcheck(f, {x}); };
  check([](const std::vector<Var>& v) { return sum(v[0]); });
  check([](const std::vector<Var>& v) { return sum(v[0], -1); });
  check([](const std::vector<Var>& v) { return sum(v[0], 1, true); });
  check([](const std::vector<Var>& v) { return sum(v[0], {-1, 0}); });
  check([](const std::vector<Var>& v) { return mean(v[0]); });
  check([](const std::vector<Var>& v) { return mean(v[0], -2); });
  check([](const std::vector<Var>& v) { return mean(v[0], 0, true); });
  check([](const std::vector<Var>& v) { return mean(v[0], {2, -3}, true); });
  check([](const std::vector<Var>& v) { return max(v[0]); });
  check([](const std::vector<Var>& v) { return max(v[0], -1); });
  check([](const std::vector<Var>& v) { return max(v[0], 0, true); });
  check([](const std::vector<Var>& v) { return max(v[0], {1, 2}); });
  check([](const std::vector<Var>& v) { return logsumexp(v[0]); });
  check([](const std::vector<Var>& v) { return logsumexp(v[0], -1); });
  check([](const std::vector<Var>& v) { return logsumexp(v[0], 1, true); });
  check([](const std::vector<Var>& v) { return logsumexp(v[0], {0, -1}); });
}

TEST_CASE("reductions match a definition-level reference over every subset of axes, in float32 and float64") {
  // Size-1 dims between others exercise the merging of dims.
  for (const Shape& s : with_rank0({Shape{7}, Shape{3, 5}, Shape{2, 3, 4}, Shape{2, 1, 3, 1, 2}, Shape{3, 2, 2, 3}})) {
    for (DType dt : {DType::f32, DType::f64}) {
      Tensor x = Tensor::normal(s, 0.0, 2.0, 330, dt);
      const double tol = dt == DType::f32 ? 1e-6 : 1e-13;
      for (const auto& r : reductions()) {
        for (const std::vector<long>& axes : axis_subsets(s.size())) {
          for (bool keepdims : {false, true}) {
            CAPTURE(shape_str(s));
            CAPTURE(std::string(dtype_name(dt)));
            CAPTURE(r.name);
            CAPTURE(fmt::format("[{}]", fmt::join(axes, ", ")));
            Var y = r.f(Var(x), axes, keepdims);
            CHECK(y.shape() == expected_shape(s, axes, keepdims));
            CHECK(y.dtype() == dt);
            std::vector<double> got = y.value().to_vector(), want = naive_reduce(r.name, x, axes);
            REQUIRE(got.size() == want.size());
            for (std::size_t i = 0; i < got.size(); ++i) CHECK(got[i] == doctest::Approx(want[i]).epsilon(tol));
          }
        }
      }
    }
  }
}

TEST_CASE("reduction values and gradients match closed forms in float32 and float64") {
  for (DType dt : {DType::f32, DType::f64}) {
    CAPTURE(std::string(dtype_name(dt)));
    const double tol = dt == DType::f32 ? 1e-6 : 1e-14;
    Tensor t = Tensor::from_vector({1, 2, 3, 4, 5, 6}, {2, 3}, dt);
    Var x(t);
    CHECK(sum(x).dim() == 0);
    CHECK(sum(x).item() == 21);
    CHECK(sum(x, 0).value().to_vector() == std::vector<double>{5, 7, 9});
    CHECK(sum(x, -1).value().to_vector() == std::vector<double>{6, 15});
    CHECK(sum(x, 0, true).shape() == Shape{1, 3});
    CHECK(sum(x, 1, true).shape() == Shape{2, 1});
    CHECK(sum(x, {0, 1}, true).shape() == Shape{1, 1});
    CHECK(mean(x).item() == doctest::Approx(3.5).epsilon(tol));
    CHECK(mean(x, 0).value().to_vector() == std::vector<double>{2.5, 3.5, 4.5});
    CHECK(mean(x, 1).value().to_vector() == std::vector<double>{2, 5});
    CHECK(max(x).item() == 6);
    CHECK(max(x, 0).value().to_vector() == std::vector<double>{4, 5, 6});
    CHECK(max(x, 1, true).value().to_vector() == std::vector<double>{3, 6});
    const double e1 = std::exp(1.0), e2 = std::exp(2.0), e3 = std::exp(3.0);
    CHECK(logsumexp(x, 1).value().at(0) == doctest::Approx(std::log(e1 + e2 + e3)).epsilon(tol));
    CHECK(logsumexp(x, 0).value().at(2) == doctest::Approx(std::log(e3 + std::exp(6.0))).epsilon(tol));

    // Gradients: sum broadcasts dy, mean divides by n, logsumexp is softmax-weighted.
    Tensor seed = Tensor::from_vector({10, 20}, {2}, dt);
    CHECK(grad_of([](const Var& v) { return sum(v, 1); }, t, seed).to_vector() ==
          std::vector<double>{10, 10, 10, 20, 20, 20});
    CHECK(grad_of([](const Var& v) { return sum(v, 1, true); }, t, Tensor::from_vector({10, 20}, {2, 1}, dt))
              .to_vector() == std::vector<double>{10, 10, 10, 20, 20, 20});
    std::vector<double> gm = grad_of([](const Var& v) { return mean(v); }, t).to_vector();
    for (double g : gm) CHECK(g == doctest::Approx(1.0 / 6).epsilon(tol));
    std::vector<double> gl = grad_of([](const Var& v) { return logsumexp(v, 1); }, t).to_vector();
    CHECK(gl[0] == doctest::Approx(e1 / (e1 + e2 + e3)).epsilon(tol));
    CHECK(gl[2] == doctest::Approx(e3 / (e1 + e2 + e3)).epsilon(tol));
    CHECK(gl[3] + gl[4] + gl[5] == doctest::Approx(1.0).epsilon(tol));
    CHECK(grad_of([](const Var& v) { return max(v, 0); }, t).to_vector() == std::vector<double>{0, 0, 0, 1, 1, 1});

    // A rank-0 tensor reduces to itself.
    Shape rank0;
    Var s(Tensor::scalar(2.5, dt), true);
    for (const auto& r : reductions()) {
      CAPTURE(r.name);
      Var y = r.f(s, {}, false);
      CHECK(y.dim() == 0);
      CHECK(y.item() == 2.5);
      CHECK(r.f(s, {}, true).shape() == rank0);
    }
  }
}

TEST_CASE("an empty axis list reduces nothing; {} is not mistaken for axis 0") {
  Tensor t = randn({2, 3}, 340);
  CHECK(sum(Var(t), {}).value().to_vector() == t.to_vector());
  CHECK(max(Var(t), {}, true).shape() == Shape{2, 3});
  CHECK(mean(Var(t), std::vector<long>{}).shape() == Shape{2, 3});
  CHECK(logsumexp(Var(t), {1}).shape() == Shape{2});
}

TEST_CASE("float32 sums accumulate in double") {
  // 1e6 float32 values of 0.1: float accumulation drifts by about 1e3.
  Var x(Tensor::full({1000, 1000}, 0.1, DType::f32));
  const double exact = 1e6 * static_cast<double>(0.1f);
  CHECK(sum(x).item() == doctest::Approx(exact).epsilon(1e-7));
  CHECK(mean(x).item() == doctest::Approx(static_cast<double>(0.1f)).epsilon(1e-7));
  std::vector<double> cols = sum(x, 0).value().to_vector();
  CHECK(cols[0] == doctest::Approx(1000 * static_cast<double>(0.1f)).epsilon(1e-7));
  CHECK(logsumexp(Var(Tensor::zeros({1 << 20}, DType::f32))).item() ==
        doctest::Approx(20 * std::log(2.0)).epsilon(1e-7));
}

TEST_CASE("float32 results beyond float32's range are inf, and logsumexp near FLT_MAX stays exact") {
  const double big = std::numeric_limits<float>::max();
  Tensor t = Tensor::from_vector({big, big, -big}, {3}, DType::f32);
  CHECK(sum(Var(t), {0}).item() == big);  // big + big - big in double
  CHECK(sum(Var(Tensor::full({2}, big, DType::f32))).item() == inf);
  CHECK(sum(Var(Tensor::full({2}, -big, DType::f32))).item() == -inf);
  // x - m = -2 FLT_MAX for the last entry: exp gives 0, not undefined behaviour. y = big + log 2
  // rounds to big even in double, yet the gradient is still the softmax [0.5, 0.5, 0].
  CHECK(logsumexp(Var(t)).item() == big);
  CHECK(grad_of([](const Var& x) { return logsumexp(x); }, t).to_vector() == std::vector<double>{0.5, 0.5, 0});
  Tensor u = Tensor::from_vector({big, -big}, {2}, DType::f32);
  CHECK(logsumexp(Var(u)).item() == big);
}

TEST_CASE("max splits the gradient evenly among ties") {
  for (DType dt : {DType::f32, DType::f64}) {
    CAPTURE(std::string(dtype_name(dt)));
    Tensor v = Tensor::from_vector({1, 3, 3, 2}, {4}, dt);
    CHECK(grad_of([](const Var& x) { return max(x); }, v).to_vector() == std::vector<double>{0, 0.5, 0.5, 0});
    // Along the last axis (contiguous slices) and along the first (strided).
    Tensor m = Tensor::from_vector({3, 3, 3, 1, 2, 2}, {2, 3}, dt);
    std::vector<double> g = grad_of([](const Var& x) { return max(x, 1); }, m).to_vector();
    for (std::size_t i = 0; i < 3; ++i) CHECK(g[i] == doctest::Approx(1.0 / 3));
    CHECK(std::vector<double>(g.begin() + 3, g.end()) == std::vector<double>{0, 0.5, 0.5});
    Tensor c = Tensor::from_vector({2, 5, 2, 1}, {2, 2}, dt);
    CHECK(grad_of([](const Var& x) { return max(x, 0); }, c, Tensor::from_vector({4, 6}, {2}, dt)).to_vector() ==
          std::vector<double>{2, 6, 2, 0});
    // All equal: everyone gets 1/n.
    std::vector<double> all = grad_of([](const Var& x) { return max(x); }, Tensor::full({2, 4}, 7, dt)).to_vector();
    for (double e : all) CHECK(e == 0.125);
  }
}

TEST_CASE("max propagates NaN and sends it no gradient") {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  for (DType dt : {DType::f32, DType::f64}) {
    Tensor t = Tensor::from_vector({1, nan, 3, 4, 5, 6}, {2, 3}, dt);
    std::vector<double> y = max(Var(t), 1).value().to_vector();
    CHECK(std::isnan(y[0]));
    CHECK(y[1] == 6);
    std::vector<double> g = grad_of([](const Var& x) { return max(x, 1); }, t).to_vector();
    CHECK(g == std::vector<double>{0, 0, 0, 0, 0, 1});
    // A NaN inside a long run, and in a run that is not the first into its output slot.
    Tensor long_run = Tensor::normal({20}, 0, 1, 345, dt);
    long_run.set(11, nan);
    CHECK(std::isnan(max(Var(long_run)).item()));
    Tensor split = Tensor::normal({3, 2, 4}, 0, 1, 346, dt);
    split.set(1 * 8 + 1 * 4 + 2, nan);  // [1, 1, 2]
    std::vector<double> ys = max(Var(split), {0, 2}).value().to_vector();
    CHECK_FALSE(std::isnan(ys[0]));
    CHECK(std::isnan(ys[1]));
  }
}

TEST_CASE("logsumexp is stable at 1e4 and handles -inf entries and all -inf slices without NaN") {
  for (DType dt : {DType::f32, DType::f64}) {
    CAPTURE(std::string(dtype_name(dt)));
    const double tol = dt == DType::f32 ? 1e-6 : 1e-14;
    Tensor big = Tensor::from_vector({1e4, 1e4, 1e4, 0, -1e4, -1e4}, {3, 2}, dt);
    std::vector<double> y = logsumexp(Var(big), 1).value().to_vector();
    CHECK(y[0] == doctest::Approx(1e4 + std::log(2.0)).epsilon(tol));
    CHECK(y[1] == 1e4);
    CHECK(y[2] == doctest::Approx(-1e4 + std::log(2.0)).epsilon(tol));
    // The gradient is formed from x - max and the log of the sum, not from the rounded y
    // (a float32 y at 1e4 is only good to 1e-3): it is exact to the dtype's precision.
    std::vector<double> gb = grad_of([](const Var& x) { return logsumexp(x, 1); }, big).to_vector();
    const std::vector<double> want = {0.5, 0.5, 1, 0, 0.5, 0.5};
    for (std::size_t i = 0; i < 6; ++i) CHECK(gb[i] == doctest::Approx(want[i]).epsilon(tol));

    Tensor masked = Tensor::from_vector({-inf, 0, 0, -inf, -inf, -inf}, {2, 3}, dt);
    std::vector<double> ym = logsumexp(Var(masked), -1).value().to_vector();
    CHECK(ym[0] == doctest::Approx(std::log(2.0)).epsilon(tol));
    CHECK(ym[1] == -inf);
    std::vector<double> gm = grad_of([](const Var& x) { return logsumexp(x, -1); }, masked).to_vector();
    CHECK(gm == std::vector<double>{0, 0.5, 0.5, 0, 0, 0});
    // The all -inf slice along the strided axis too, and over everything.
    Tensor cols = Tensor::from_vector({-inf, 1, -inf, 1}, {2, 2}, dt);
    CHECK(logsumexp(Var(cols), 0).value().at(0) == -inf);
    std::vector<double> gc = grad_of([](const Var& x) { return logsumexp(x, 0); }, cols).to_vector();
    CHECK(gc[0] == 0);
    CHECK(gc[2] == 0);
    CHECK(gc[1] == doctest::Approx(0.5).epsilon(tol));
    CHECK(gc[3] == doctest::Approx(0.5).epsilon(tol));
    Tensor none = Tensor::full({2, 2}, -inf, dt);
    CHECK(logsumexp(Var(none)).item() == -inf);
    CHECK(grad_of([](const Var& x) { return logsumexp(x); }, none).to_vector() == std::vector<double>{0, 0, 0, 0});
    // A +inf entry gives +inf (not NaN).
    CHECK(logsumexp(Var(Tensor::from_vector({1, inf}, {2}, dt))).item() == inf);
    // Anomaly mode: the -inf came in with the input, and no gradient is NaN.
    AnomalyMode anomaly;
    CHECK_NOTHROW(grad_of([](const Var& x) { return logsumexp(x, -1); }, masked));
  }
  // Finite differences hold far from 0 too.
  Tensor shifted = randn({2, 3}, 350);
  for (std::size_t i = 0; i < shifted.size(); ++i) shifted.set(i, shifted.at(i) + 1e4);
  expect_gradcheck([](const std::vector<Var>& v) { return logsumexp(v[0], 1); }, {shifted});
}

TEST_CASE("empty tensors: sums are 0, logsumexp is -inf, mean and max of empty slices throw") {
  for (DType dt : {DType::f32, DType::f64}) {
    Var e(Tensor::zeros({0, 3}, dt), true);
    CHECK(sum(e).dim() == 0);
    CHECK(sum(e).item() == 0);
    CHECK(sum(e, 0).value().to_vector() == std::vector<double>{0, 0, 0});
    CHECK(sum(e, 1).shape() == Shape{0});
    CHECK(sum(e, 0, true).shape() == Shape{1, 3});
    CHECK(logsumexp(e).item() == -inf);
    CHECK(logsumexp(e, 0).value().to_vector() == std::vector<double>{-inf, -inf, -inf});
    // Reducing a non-empty axis of an empty tensor has no empty slices: no error.
    CHECK(mean(e, 1).shape() == Shape{0});
    CHECK(max(e, 1, true).shape() == Shape{0, 1});
    // Backward through an empty reduction gives an empty gradient of the input's shape.
    Var s = sum(e, 0);
    s.backward(Tensor::ones({3}, dt));
    CHECK(e.grad().shape() == Shape{0, 3});
    e.zero_grad();
    logsumexp(e).backward();
    CHECK(e.grad().shape() == Shape{0, 3});
    e.zero_grad();
    mean(e, 1).backward(Tensor::zeros({0}, dt));
    CHECK(e.grad().shape() == Shape{0, 3});

    CHECK_THROWS_WITH_AS(mean(e), doctest::Contains("op 'mean'"), ShapeError);
    CHECK_THROWS_WITH_AS(mean(e, 0), doctest::Contains("shape [0, 3]"), ShapeError);
    CHECK_THROWS_WITH_AS(max(e), doctest::Contains("op 'max'"), ShapeError);
    CHECK_THROWS_WITH_AS(max(e, {0}, true), doctest::Contains("no elements"), ShapeError);
    CHECK_THROWS_AS(max(Var(Tensor::zeros({0}, dt))), Error);
  }
}

TEST_CASE("reductions name the op, the axis and the shape in their errors") {
  Var x(Tensor::zeros({2, 3}));
  CHECK_THROWS_WITH_AS(sum(x, 2), doctest::Contains("op 'sum'"), IndexError);
  CHECK_THROWS_WITH_AS(mean(x, -3), doctest::Contains("axis -3 is out of range for a tensor of rank 2"), IndexError);
  CHECK_THROWS_WITH_AS(max(x, {0, 5}), doctest::Contains("op 'max'"), IndexError);
  CHECK_THROWS_WITH_AS(logsumexp(x, {1, -1}), doctest::Contains("axes [1, -1] name dimension 1 twice"), Error);
  CHECK_THROWS_WITH_AS(sum(x, {0, 0}, true), doctest::Contains("[2, 3]"), Error);
  Shape rank0;
  CHECK_THROWS_WITH_AS(sum(Var(Tensor::zeros(rank0)), 0), doctest::Contains("rank 0"), IndexError);
  NameScope scope("head");
  CHECK_THROWS_WITH_AS(logsumexp(x, 3), doctest::Contains("scope 'head'"), IndexError);
}
