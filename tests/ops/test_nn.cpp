#include <cmath>
#include <limits>

#include "check.hpp"
#include "tapegrad.hpp"

using namespace tg;
using tg::test::expect_gradcheck;
using tg::test::randn;

namespace {

constexpr double inf = std::numeric_limits<double>::infinity();

// Runs backward from x through f with a seed of random weights and returns x's gradient.
Tensor grad_of(const std::function<Var(const Var&)>& f, const Tensor& value) {
  Var x(value, true);
  Var y = f(x);
  y.backward(Tensor::normal(y.shape(), 0.0, 1.0, 99, y.dtype()));
  return x.grad();
}

// [3, 4] logits: row 0 finite, row 1 partly masked (columns 1 and 3), row 2 fully masked.
Tensor masked_logits(DType dtype) {
  return Tensor::from_vector({0.3, -1.2, 2.0, 0.5, 1.0, -inf, 0.2, -inf, -inf, -inf, -inf, -inf}, {3, 4}, dtype);
}

}  // namespace

TEST_CASE("softmax and log_softmax pass gradcheck along every axis") {
  std::uint64_t seed = 40;
  for (Shape s : {Shape{5}, Shape{1}, Shape{3, 4}, Shape{1, 4}, Shape{2, 1, 3}, Shape{2, 3, 4}}) {
    Tensor x = randn(s, seed++);
    for (long axis = -static_cast<long>(s.size()); axis < static_cast<long>(s.size()); ++axis) {
      CAPTURE(shape_str(s));
      CAPTURE(axis);
      expect_gradcheck([axis](const std::vector<Var>& v) { return softmax(v[0], axis); }, {x});
      expect_gradcheck([axis](const std::vector<Var>& v) { return log_softmax(v[0], axis); }, {x});
    }
  }
}

TEST_CASE("softmax and log_softmax match closed forms in float32 and float64") {
  for (DType dt : {DType::f32, DType::f64}) {
    CAPTURE(std::string(dtype_name(dt)));
    const double tol = dt == DType::f32 ? 1e-6 : 1e-14;
    Var x(Tensor::from_vector({1, 2, 3, -1, 0, 4}, {2, 3}, dt));
    double z0 = std::exp(1.0) + std::exp(2.0) + std::exp(3.0), z1 = std::exp(-1.0) + 1 + std::exp(4.0);
    std::vector<double> expected = {
        std::exp(1.0) / z0, std::exp(2.0) / z0, std::exp(3.0) / z0, std::exp(-1.0) / z1, 1 / z1, std::exp(4.0) / z1};
    std::vector<double> y = softmax(x).value().to_vector();
    std::vector<double> logy = log_softmax(x).value().to_vector();
    for (std::size_t i = 0; i < 6; ++i) {
      CHECK(y[i] == doctest::Approx(expected[i]).epsilon(tol));
      CHECK(logy[i] == doctest::Approx(std::log(expected[i])).epsilon(tol));
    }
    // axis 0: each column sums to 1
    std::vector<double> cols = softmax(x, 0).value().to_vector();
    for (std::size_t j = 0; j < 3; ++j) CHECK(cols[j] + cols[j + 3] == doctest::Approx(1.0).epsilon(tol));
    CHECK(cols[0] == doctest::Approx(std::exp(1.0) / (std::exp(1.0) + std::exp(-1.0))).epsilon(tol));
  }
}

TEST_CASE("softmax and log_softmax are stable at logits of 1e4 and -1e4") {
  for (DType dt : {DType::f32, DType::f64}) {
    CAPTURE(std::string(dtype_name(dt)));
    Tensor x = Tensor::from_vector({1e4, 0, -1e4, 1e4, 1e4, -1e4, -1e4, -1e4, -1e4}, {3, 3}, dt);
    std::vector<double> y = softmax(Var(x)).value().to_vector();
    CHECK(std::vector<double>(y.begin(), y.begin() + 6) == std::vector<double>{1, 0, 0, 0.5, 0.5, 0});
    for (std::size_t i = 6; i < 9; ++i) CHECK(y[i] == doctest::Approx(1.0 / 3));
    std::vector<double> logy = log_softmax(Var(x)).value().to_vector();
    CHECK(logy[0] == 0);
    CHECK(logy[1] == -1e4);
    CHECK(logy[2] == -2e4);
    CHECK(logy[3] == doctest::Approx(-std::log(2.0)));
    CHECK(logy[8] == doctest::Approx(-std::log(3.0)));
    CHECK(all_finite(grad_of([](const Var& v) { return softmax(v); }, x)));
    CHECK(all_finite(grad_of([](const Var& v) { return log_softmax(v); }, x)));
  }
  // Shift invariance keeps finite differences exact enough far from 0.
  Tensor x = randn({2, 4}, 51);
  for (double shift : {1e4, -1e4}) {
    CAPTURE(shift);
    Tensor shifted = x;
    for (std::size_t i = 0; i < shifted.size(); ++i) shifted.set(i, shifted.at(i) + shift);
    expect_gradcheck([](const std::vector<Var>& v) { return softmax(v[0]); }, {shifted});
    expect_gradcheck([](const std::vector<Var>& v) { return log_softmax(v[0], 1); }, {shifted});
  }
}

TEST_CASE("masked positions get probability exactly 0 and gradient exactly 0") {
  for (DType dt : {DType::f32, DType::f64}) {
    CAPTURE(std::string(dtype_name(dt)));
    Tensor x = masked_logits(dt);
    Tensor y = softmax(Var(x)).value();
    Tensor g = grad_of([](const Var& v) { return softmax(v); }, x);
    Tensor logy = log_softmax(Var(x)).value();
    Tensor logg = grad_of([](const Var& v) { return log_softmax(v); }, x);
    for (std::size_t i = 0; i < x.size(); ++i) {
      CAPTURE(i);
      if (x.at(i) == -inf) {
        CHECK(y.at(i) == 0);
        CHECK(g.at(i) == 0);
        CHECK(logy.at(i) == -inf);
        CHECK(logg.at(i) == 0);
      } else {
        CHECK(y.at(i) > 0);
        CHECK(g.at(i) != 0);
      }
    }
    // The partly masked row still sums to 1 over its unmasked entries.
    CHECK(y.at(4) + y.at(6) == doctest::Approx(1.0));
  }
  // Gradcheck through a constant -inf mask: masked inputs have numeric and analytic gradient 0.
  Var mask(Tensor::from_vector({0, -inf, 0, 0, -inf, 0, 0, 0}, {2, 4}, DType::f64));
  Tensor x = randn({2, 4}, 52);
  expect_gradcheck([mask](const std::vector<Var>& v) { return softmax(v[0] + mask); }, {x});
  expect_gradcheck([mask](const std::vector<Var>& v) { return exp(log_softmax(v[0] + mask)); }, {x});
}

TEST_CASE("a fully masked row gives no NaN anywhere, forward or backward") {
  for (DType dt : {DType::f32, DType::f64}) {
    CAPTURE(std::string(dtype_name(dt)));
    Tensor x = masked_logits(dt);
    Tensor y = softmax(Var(x)).value();
    Tensor g = grad_of([](const Var& v) { return softmax(v); }, x);
    Tensor logy = log_softmax(Var(x)).value();
    Tensor logg = grad_of([](const Var& v) { return log_softmax(v); }, x);
    // log(softmax(x)) sends dy = inf into softmax's backward at masked entries.
    Tensor loglog = grad_of([](const Var& v) { return log(softmax(v)); }, x);
    for (std::size_t i = 0; i < x.size(); ++i) {
      CAPTURE(i);
      CHECK_FALSE(std::isnan(y.at(i)));
      CHECK_FALSE(std::isnan(g.at(i)));
      CHECK_FALSE(std::isnan(logy.at(i)));
      CHECK_FALSE(std::isnan(logg.at(i)));
      CHECK_FALSE(std::isnan(loglog.at(i)));
      CHECK(std::isfinite(loglog.at(i)));
    }
    for (std::size_t i = 8; i < 12; ++i) {
      CHECK(y.at(i) == 0);
      CHECK(g.at(i) == 0);
      CHECK(logy.at(i) == -inf);
      CHECK(logg.at(i) == 0);
    }
    // Anomaly mode sees nothing wrong: inputs carried the -inf, gradients are finite.
    AnomalyMode anomaly;
    CHECK_NOTHROW(grad_of([](const Var& v) { return softmax(v); }, x));
    CHECK_NOTHROW(grad_of([](const Var& v) { return log_softmax(v); }, x));
  }
}

TEST_CASE("softmax works on empty tensors and names the op for a bad axis") {
  for (Shape s : {Shape{0, 3}, Shape{3, 0}}) {
    CHECK(softmax(Var(Tensor::zeros(s))).shape() == s);
    CHECK(log_softmax(Var(Tensor::zeros(s)), 0).shape() == s);
  }
  Var x(Tensor::zeros({2, 3}));
  CHECK_THROWS_WITH_AS(softmax(x, 2), doctest::Contains("op 'softmax'"), IndexError);
  CHECK_THROWS_WITH_AS(log_softmax(x, -3), doctest::Contains("op 'log_softmax'"), IndexError);
  Shape rank0;
  CHECK_THROWS_WITH_AS(softmax(Var(Tensor::zeros(rank0))), doctest::Contains("rank 0"), IndexError);
}

namespace {

Indices indices(std::initializer_list<std::int64_t> values, const std::vector<std::size_t>& shape) {
  Indices t = Indices::from_shape(shape);
  std::copy(values.begin(), values.end(), t.begin());
  return t;
}

// The textbook formula, straight from the definition, for one row.
double naive_cross_entropy(const std::vector<double>& row, std::int64_t target, double eps) {
  double z = 0;
  for (double v : row) z += std::exp(v);
  double smooth = 0;
  for (double v : row) smooth -= std::log(std::exp(v) / z);
  return (1 - eps) * -std::log(std::exp(row[static_cast<std::size_t>(target)]) / z) +
         eps * smooth / static_cast<double>(row.size());
}

}  // namespace

TEST_CASE("cross_entropy passes gradcheck for every reduction, with and without smoothing and ignore_index") {
  struct Case {
    Shape logits;
    Indices targets;
  };
  Shape rank0;
  std::vector<Case> cases;
  cases.push_back({{4, 5}, indices({1, 0, 4, 2}, {4})});
  cases.push_back({{4, 5}, indices({1, -100, 4, -100}, {4})});  // ignore_index present
  cases.push_back({{2, 3, 4}, indices({3, 0, -100, 1, 2, 2}, {2, 3})});
  cases.push_back({{1, 3}, indices({2}, {1})});
  cases.push_back({{3, 1}, indices({0, 0, -100}, {3})});  // one class
  cases.push_back({{5}, Indices(3)});                     // rank-0 target
  std::uint64_t seed = 60;
  for (const Case& k : cases) {
    Tensor x = randn(k.logits, seed++);
    for (Reduction reduction : {Reduction::none, Reduction::sum, Reduction::mean}) {
      for (double eps : {0.0, 0.1, 1.0}) {
        CAPTURE(shape_str(k.logits));
        CAPTURE(static_cast<int>(reduction));
        CAPTURE(eps);
        CrossEntropyOptions o{.label_smoothing = eps, .reduction = reduction};
        expect_gradcheck([&](const std::vector<Var>& v) { return cross_entropy(v[0], k.targets, o); }, {x});
      }
    }
  }
  // A different ignore_index; -100 is then an ordinary (invalid) target, so use 2.
  Tensor x = randn({4, 3}, 70);
  CrossEntropyOptions o{.ignore_index = 2};
  expect_gradcheck([&](const std::vector<Var>& v) { return cross_entropy(v[0], indices({2, 0, 1, 2}, {4}), o); }, {x});
}

TEST_CASE("cross_entropy matches the textbook formula in float32 and float64") {
  std::vector<std::vector<double>> rows = {{0.5, -1.0, 2.0}, {1.5, 0.2, -0.3}, {0.0, 0.0, 3.0}, {-2.0, 1.0, 0.1}};
  Indices targets = indices({2, 0, -100, 1}, {4});
  std::vector<double> flat;
  for (const auto& r : rows) flat.insert(flat.end(), r.begin(), r.end());
  for (DType dt : {DType::f32, DType::f64}) {
    for (double eps : {0.0, 0.2}) {
      CAPTURE(std::string(dtype_name(dt)));
      CAPTURE(eps);
      const double tol = dt == DType::f32 ? 1e-6 : 1e-13;
      Var x(Tensor::from_vector(flat, {4, 3}, dt));
      double l0 = naive_cross_entropy(rows[0], 2, eps), l1 = naive_cross_entropy(rows[1], 0, eps),
             l3 = naive_cross_entropy(rows[3], 1, eps);
      std::vector<double> none =
          cross_entropy(x, targets, {.label_smoothing = eps, .reduction = Reduction::none}).value().to_vector();
      CHECK(none[0] == doctest::Approx(l0).epsilon(tol));
      CHECK(none[1] == doctest::Approx(l1).epsilon(tol));
      CHECK(none[2] == 0);
      CHECK(none[3] == doctest::Approx(l3).epsilon(tol));
      double sum = cross_entropy(x, targets, {.label_smoothing = eps, .reduction = Reduction::sum}).item();
      CHECK(sum == doctest::Approx(l0 + l1 + l3).epsilon(tol));
      double mean = cross_entropy(x, targets, {.label_smoothing = eps}).item();
      CHECK(mean == doctest::Approx((l0 + l1 + l3) / 3).epsilon(tol));
    }
  }
}

TEST_CASE("cross_entropy of no counted targets is 0 with zero gradient, not NaN") {
  for (Reduction reduction : {Reduction::mean, Reduction::sum}) {
    Var x(randn({3, 4}, 80), true);
    Var loss = cross_entropy(x, indices({-100, -100, -100}, {3}), {.label_smoothing = 0.1, .reduction = reduction});
    CHECK(loss.item() == 0);
    loss.backward();
    for (double g : x.grad().to_vector()) CHECK(g == 0);
  }
  // No rows at all.
  Var empty(Tensor::zeros({0, 5}, DType::f64), true);
  Var loss = cross_entropy(empty, Indices::from_shape({0}));
  CHECK(loss.item() == 0);
  loss.backward();
  CHECK(empty.grad().size() == 0);
}

TEST_CASE("cross_entropy is stable at logits of 1e4 and handles masked classes") {
  for (DType dt : {DType::f32, DType::f64}) {
    CAPTURE(std::string(dtype_name(dt)));
    Var x(Tensor::from_vector({1e4, 0, -1e4, 1e4, 0, -1e4}, {2, 3}, dt), true);
    Var loss = cross_entropy(x, indices({0, 2}, {2}), {.reduction = Reduction::none});
    CHECK(loss.value().to_vector() == std::vector<double>{0, 2e4});
    loss.backward(Tensor::ones({2}, dt));
    // p = [1, 0, 0] in both rows: the gradient is p - onehot.
    CHECK(x.grad().to_vector() == std::vector<double>{0, 0, 0, 1, 0, -1});
  }
  // A masked class (-inf) has probability 0 and gradient 0; a fully masked row that is
  // ignored contributes nothing; one that is not has loss +inf (target probability 0), no NaN.
  Var x(masked_logits(DType::f64), true);
  Var loss = cross_entropy(x, indices({2, 0, -100}, {3}), {.reduction = Reduction::none});
  std::vector<double> l = loss.value().to_vector();
  CHECK(std::isfinite(l[0]));
  CHECK(std::isfinite(l[1]));
  CHECK(l[2] == 0);
  loss.backward(Tensor::ones({3}, DType::f64));
  std::vector<double> g = x.grad().to_vector();
  for (std::size_t i = 0; i < g.size(); ++i) {
    CAPTURE(i);
    CHECK_FALSE(std::isnan(g[i]));
    if (i == 5 || i == 7 || i >= 8) CHECK(g[i] == 0);
  }
  // With smoothing a masked class still has p = 0, so its gradient is -eps / C (as PyTorch).
  Var z(masked_logits(DType::f64), true);
  Var smoothed = cross_entropy(z, indices({2, 0, -100}, {3}), {.label_smoothing = 0.1, .reduction = Reduction::sum});
  CHECK(smoothed.item() == inf);
  smoothed.backward();
  CHECK(z.grad().at(5) == doctest::Approx(-0.1 / 4));
  CHECK(z.grad().at(7) == doctest::Approx(-0.1 / 4));
  CHECK(z.grad().at(8) == 0);
  Var y(masked_logits(DType::f64), true);
  Var masked_target = cross_entropy(y, indices({2, 0, 1}, {3}), {.reduction = Reduction::none});
  CHECK(masked_target.value().at(2) == inf);
  masked_target.backward(Tensor::ones({3}, DType::f64));
  for (double v : y.grad().to_vector()) CHECK_FALSE(std::isnan(v));
}

TEST_CASE("cross_entropy names the target, its position and C when a target is out of range") {
  Var x(Tensor::zeros({2, 3, 5}));
  CHECK_THROWS_WITH_AS(cross_entropy(x, indices({0, 1, 2, 3, 7, 4}, {2, 3})),
                       doctest::Contains("op 'cross_entropy': target 7 at position [1, 1] is out of range for C = 5"),
                       IndexError);
  CHECK_THROWS_WITH_AS(cross_entropy(x, indices({0, 1, 2, -1, 0, 4}, {2, 3})), doctest::Contains("target -1"),
                       IndexError);
  CHECK_THROWS_WITH_AS(cross_entropy(x, indices({0, 1, 2}, {3})), doctest::Contains("[2, 3, 5] and targets [3]"),
                       ShapeError);
  Shape rank0;
  CHECK_THROWS_WITH_AS(cross_entropy(Var(Tensor::zeros(rank0)), Indices(0)), doctest::Contains("op 'cross_entropy'"),
                       ShapeError);
  CHECK_THROWS_WITH_AS(cross_entropy(x, indices({0, 1, 2, 3, 4, 4}, {2, 3}), {.label_smoothing = 1.5}),
                       doctest::Contains("label_smoothing 1.5"), Error);
  NameScope scope("head");
  CHECK_THROWS_WITH_AS(cross_entropy(x, indices({0, 1, 2, 3, 4, 5}, {2, 3})), doctest::Contains("scope 'head'"),
                       IndexError);
}

TEST_CASE("dropout passes gradcheck with a fixed generator seed") {
  for (Shape s : {Shape{7}, Shape{2, 1, 3}, Shape{1, 4}, Shape{}}) {
    for (double p : {0.25, 0.5}) {
      CAPTURE(shape_str(s));
      CAPTURE(p);
      // A Generator made inside the function: every call draws the same mask.
      expect_gradcheck(
          [p](const std::vector<Var>& v) {
            Generator gen(1234);
            return dropout(v[0], p, true, gen);
          },
          {randn(s, 90)});
    }
  }
}

TEST_CASE("dropout: same seed, same mask; kept values scaled by 1 / (1 - p)") {
  Tensor x = Tensor::uniform({100, 100}, 1.0, 2.0, 91, DType::f64);
  const double p = 0.3;
  Generator a(7), b(7), c(8);
  Tensor ya = dropout(Var(x), p, true, a).value(), yb = dropout(Var(x), p, true, b).value();
  Tensor yc = dropout(Var(x), p, true, c).value();
  CHECK(ya.to_vector() == yb.to_vector());
  CHECK(ya.to_vector() != yc.to_vector());
  std::size_t dropped = 0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    if (ya.at(i) == 0)
      ++dropped;
    else
      CHECK(ya.at(i) == x.at(i) * (1 / (1 - p)));
  }
  CHECK(static_cast<double>(dropped) / static_cast<double>(x.size()) == doctest::Approx(p).epsilon(0.05));
  // The gradient uses the same mask: 1 / (1 - p) where kept, 0 where dropped.
  Var xv(x, true);
  Generator d(7);
  Var y = dropout(xv, p, true, d);
  y.backward(Tensor::ones(x.shape(), DType::f64));
  for (std::size_t i = 0; i < x.size(); ++i) CHECK(xv.grad().at(i) == (ya.at(i) == 0 ? 0.0 : 1 / (1 - p)));
  // The default generator reseeds the same way.
  manual_seed(7);
  Tensor y1 = dropout(Var(x), p, true).value();
  manual_seed(7);
  CHECK(dropout(Var(x), p, true).value().to_vector() == y1.to_vector());
  CHECK(y1.to_vector() == ya.to_vector());
}

TEST_CASE("dropout: identity when not training or p = 0, zeros when p = 1, an error outside [0, 1]") {
  Var x(randn({3, 4}, 92), true);
  Generator gen(1);
  CHECK(dropout(x, 0.5, false, gen).node() == x.node());
  CHECK(dropout(x, 0.0, true, gen).node() == x.node());
  Var y = dropout(x, 1.0, true, gen);
  for (double v : y.value().to_vector()) CHECK(v == 0);
  y.backward(Tensor::ones({3, 4}, DType::f64));
  for (double g : x.grad().to_vector()) CHECK(g == 0);
  for (double p : {-0.1, 1.5, std::nan("")}) {
    CAPTURE(p);
    CHECK_THROWS_WITH_AS(dropout(x, p, true, gen), doctest::Contains("op 'dropout'"), Error);
    CHECK_THROWS_WITH_AS(dropout(x, p, false), doctest::Contains("outside [0, 1]"), Error);
  }
  Var f32(Tensor::ones({4}, DType::f32));
  CHECK(dropout(f32, 0.5, true, gen).dtype() == DType::f32);
}

TEST_CASE("Generator: a saved state continues the same draws; malformed state text is refused") {
  tg::Generator gen(123);
  for (int i = 0; i < 5; ++i) gen.uniform();
  const std::string saved = gen.state();
  std::vector<double> expected;
  for (int i = 0; i < 10; ++i) expected.push_back(gen.uniform());

  tg::Generator other(999);
  other.set_state(saved);
  for (double e : expected) CHECK(other.uniform() == e);

  const std::string before = other.state();
  CHECK_THROWS_WITH_AS(other.set_state("1 2 3"), doctest::Contains("not a generator state"), tg::Error);
  CHECK_THROWS_AS(other.set_state(saved + " 7"), tg::Error);
  CHECK_THROWS_AS(other.set_state(""), tg::Error);
  CHECK(other.state() == before);
}

// float32 rows of the last axis take the vectorised exp of fast_math.hpp; float64 the standard
// library. Wide rows (a vocabulary) with masked entries: both agree, and masked stays exactly 0.
TEST_CASE("softmax, log_softmax and cross_entropy in float32 agree with float64 on wide masked rows") {
  const std::size_t rows = 5, classes = 301;
  Tensor x64 = Tensor::normal({rows, classes}, 0.0, 3.0, 11, DType::f64);
  for (std::size_t c = 0; c < classes; c += 7) x64.set(c, -inf);             // row 0: every 7th masked
  for (std::size_t c = 0; c < classes; ++c) x64.set(4 * classes + c, -inf);  // row 4: all masked
  Tensor x32 = x64.to(DType::f32);
  auto close = [](const Tensor& a32, const Tensor& a64, double tol) {
    for (std::size_t i = 0; i < a64.size(); ++i) {
      CAPTURE(i);
      const double want = a64.at(i), got = a32.at(i);
      if (!std::isfinite(want))
        CHECK(got == want);
      else
        CHECK(std::abs(got - want) <= tol * (1 + std::abs(want)));
    }
  };
  close(softmax(Var(x32)).value(), softmax(Var(x64)).value(), 1e-6);
  close(log_softmax(Var(x32)).value(), log_softmax(Var(x64)).value(), 1e-6);
  close(grad_of([](const Var& v) { return softmax(v); }, x32), grad_of([](const Var& v) { return softmax(v); }, x64),
        1e-5);
  close(grad_of([](const Var& v) { return log_softmax(v); }, x32),
        grad_of([](const Var& v) { return log_softmax(v); }, x64), 1e-5);
  for (std::size_t c = 0; c < classes; c += 7) CHECK(softmax(Var(x32)).value().at(c) == 0);
  const Indices targets = indices({3, 10, 0, 300, -100}, {rows});
  for (double eps : {0.0, 0.1}) {
    CAPTURE(eps);
    const CrossEntropyOptions options{.label_smoothing = eps, .reduction = Reduction::sum};
    Var a(x32, true), b(x64, true);
    Var la = cross_entropy(a, targets, options), lb = cross_entropy(b, targets, options);
    if (std::isinf(lb.item()))
      CHECK(la.item() == lb.item());  // smoothing over masked classes: +inf, as PyTorch
    else
      CHECK(la.item() == doctest::Approx(lb.item()).epsilon(1e-6));
    la.backward();
    lb.backward();
    close(a.grad(), b.grad(), 1e-6);
    // A masked class: probability exactly 0, so its gradient is -eps / C (0 without smoothing).
    for (std::size_t c = 0; c < classes; c += 7) {
      if (eps == 0)
        CHECK(a.grad().at(c) == 0);
      else
        CHECK(a.grad().at(c) == doctest::Approx(-eps / double(classes)).epsilon(1e-6));
    }
  }
}
