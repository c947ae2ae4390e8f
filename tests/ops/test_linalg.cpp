#include <array>
#include <cmath>
#include <string>
#include <tuple>
#include <vector>

#include "check.hpp"
#include "tapegrad/autodiff/scope.hpp"
#include "tapegrad/kernels/blas.hpp"
#include "tapegrad/ops/elementwise.hpp"
#include "tapegrad/ops/linalg.hpp"
#include "tapegrad/ops/reduce.hpp"

using namespace tg;
using tg::test::expect_gradcheck;
using tg::test::randn;

namespace {

// A matmul case in the sizes of op(a) [batch_a..., M, K] and op(b) [batch_b..., K, N];
// an empty batch means a 2-D operand.
struct Case {
  Shape batch_a, batch_b;
  std::size_t m, k, n;
};

// The stored shape of an operand whose op() is [rows, cols].
Shape stored(const Shape& batch, std::size_t rows, std::size_t cols, bool transposed) {
  Shape s = batch;
  s.push_back(transposed ? cols : rows);
  s.push_back(transposed ? rows : cols);
  return s;
}

std::string flags_str(bool ta, bool tb) { return std::string(ta ? "T" : "N") + (tb ? "T" : "N"); }

// Every supported rank combination, with size-1 M, K, N and batch broadcasting.
std::vector<Case> supported_cases() {
  Shape none;
  std::vector<Case> cases;
  for (Shape ba : {none, Shape{2}}) {
    Shape bb = ba;
    cases.push_back({ba, bb, 3, 4, 5});
    cases.push_back({ba, bb, 1, 4, 5});
    cases.push_back({ba, bb, 3, 1, 5});
    cases.push_back({ba, bb, 3, 4, 1});
    cases.push_back({ba, bb, 1, 1, 1});
  }
  cases.push_back({Shape{1}, Shape{3}, 2, 4, 3});  // a broadcast over b's batch
  cases.push_back({Shape{3}, Shape{1}, 2, 4, 3});  // b broadcast: folds into one gemm unless a is transposed
  cases.push_back({Shape{1}, Shape{1}, 2, 3, 2});
  cases.push_back({Shape{1}, Shape{2}, 1, 1, 3});
  cases.push_back({Shape{3}, none, 2, 4, 5});  // [B, M, K] x [K, N]
  cases.push_back({Shape{2}, none, 1, 3, 1});
  cases.push_back({Shape{1}, none, 2, 3, 4});
  return cases;
}

// op(a) op(b) from the definition, with batch broadcasting; row-major values.
std::vector<double> naive_matmul(const Tensor& a, const Tensor& b, bool ta, bool tb) {
  const Shape &sa = a.shape(), &sb = b.shape();
  const std::size_t ra = sa.size(), rb = sb.size();
  const std::size_t m = ta ? sa[ra - 1] : sa[ra - 2], k = ta ? sa[ra - 2] : sa[ra - 1];
  const std::size_t n = tb ? sb[rb - 2] : sb[rb - 1];
  const std::size_t ba = ra == 3 ? sa[0] : 1, bb = rb == 3 ? sb[0] : 1, batch = ba == 1 ? bb : ba;
  std::vector<double> av = a.to_vector(), bv = b.to_vector(), y;
  for (std::size_t z = 0; z < batch; ++z) {
    const std::size_t za = ba == 1 ? 0 : z, zb = bb == 1 ? 0 : z;
    for (std::size_t i = 0; i < m; ++i) {
      for (std::size_t j = 0; j < n; ++j) {
        double s = 0;
        for (std::size_t l = 0; l < k; ++l) {
          double x = av[za * m * k + (ta ? l * m + i : i * k + l)];
          double w = bv[zb * k * n + (tb ? j * k + l : l * n + j)];
          s += x * w;
        }
        y.push_back(s);
      }
    }
  }
  return y;
}

Shape out_shape(const Case& c) {
  Shape s;
  if (!c.batch_a.empty()) s.push_back(c.batch_a[0] == 1 && !c.batch_b.empty() ? c.batch_b[0] : c.batch_a[0]);
  s.push_back(c.m);
  s.push_back(c.n);
  return s;
}

}  // namespace

TEST_CASE("matmul passes gradcheck for every transpose combination and supported rank") {
  std::uint64_t seed = 400;
  for (const Case& c : supported_cases()) {
    for (bool ta : {false, true}) {
      for (bool tb : {false, true}) {
        Tensor a = randn(stored(c.batch_a, c.m, c.k, ta), seed++);
        Tensor b = randn(stored(c.batch_b, c.k, c.n, tb), seed++);
        CAPTURE(shape_str(a.shape()));
        CAPTURE(shape_str(b.shape()));
        CAPTURE(flags_str(ta, tb));
        expect_gradcheck([ta, tb](const std::vector<Var>& v) { return matmul(v[0], v[1], ta, tb); }, {a, b});
      }
    }
  }
}

TEST_CASE("matmul values match the definition for every case, in float32 and float64") {
  std::uint64_t seed = 450;
  for (const Case& c : supported_cases()) {
    for (bool ta : {false, true}) {
      for (bool tb : {false, true}) {
        for (DType dt : {DType::f32, DType::f64}) {
          Tensor a = Tensor::normal(stored(c.batch_a, c.m, c.k, ta), 0, 1, seed++, dt);
          Tensor b = Tensor::normal(stored(c.batch_b, c.k, c.n, tb), 0, 1, seed++, dt);
          CAPTURE(shape_str(a.shape()));
          CAPTURE(shape_str(b.shape()));
          CAPTURE(flags_str(ta, tb));
          CAPTURE(std::string(dtype_name(dt)));
          Var y = matmul(Var(a), Var(b), ta, tb);
          CHECK(y.shape() == out_shape(c));
          CHECK(y.dtype() == dt);
          std::vector<double> got = y.value().to_vector(), want = naive_matmul(a, b, ta, tb);
          REQUIRE(got.size() == want.size());
          const double tol = dt == DType::f32 ? 1e-5 : 1e-12;
          for (std::size_t i = 0; i < got.size(); ++i) CHECK(got[i] == doctest::Approx(want[i]).epsilon(tol));
        }
      }
    }
  }
}

TEST_CASE("matmul of a 2x2 by a 2x2 matches the closed form, however each is stored") {
  for (DType dt : {DType::f32, DType::f64}) {
    CAPTURE(std::string(dtype_name(dt)));
    // [[1, 2], [3, 4]] @ [[5, 6], [7, 8]] = [[19, 22], [43, 50]]
    Tensor a = Tensor::from_vector({1, 2, 3, 4}, {2, 2}, dt), at = Tensor::from_vector({1, 3, 2, 4}, {2, 2}, dt);
    Tensor b = Tensor::from_vector({5, 6, 7, 8}, {2, 2}, dt), bt = Tensor::from_vector({5, 7, 6, 8}, {2, 2}, dt);
    const std::vector<double> want = {19, 22, 43, 50};
    CHECK(matmul(Var(a), Var(b)).value().to_vector() == want);
    CHECK(matmul(Var(at), Var(b), true, false).value().to_vector() == want);
    CHECK(matmul(Var(a), Var(bt), false, true).value().to_vector() == want);
    CHECK(matmul(Var(at), Var(bt), true, true).value().to_vector() == want);
    // dA = dy B^T, dB = A^T dy with dy = ones: row sums of B, column sums of A.
    for (bool ta : {false, true}) {
      for (bool tb : {false, true}) {
        CAPTURE(flags_str(ta, tb));
        Var va(ta ? at : a, true), vb(tb ? bt : b, true);
        matmul(va, vb, ta, tb).backward(Tensor::ones({2, 2}, dt));
        // Gradients come back in each operand's stored layout.
        CHECK(va.grad().to_vector() ==
              (ta ? std::vector<double>{11, 11, 15, 15} : std::vector<double>{11, 15, 11, 15}));
        CHECK(vb.grad().to_vector() == (tb ? std::vector<double>{4, 6, 4, 6} : std::vector<double>{4, 4, 6, 6}));
      }
    }
  }
}

TEST_CASE("a float32 [64, 32] x [32, 48] matmul matches a naive triple loop to 1e-5 relative, for every layout") {
  const std::size_t m = 64, k = 32, n = 48;
  Tensor a = Tensor::normal({m, k}, 0, 1, 470, DType::f32), b = Tensor::normal({k, n}, 0, 1, 471, DType::f32);
  std::vector<double> av = a.to_vector(), bv = b.to_vector();
  // The same matrices stored transposed.
  Tensor at = Tensor::empty({k, m}, DType::f32), bt = Tensor::empty({n, k}, DType::f32);
  for (std::size_t i = 0; i < m; ++i)
    for (std::size_t l = 0; l < k; ++l) at.set(l * m + i, av[i * k + l]);
  for (std::size_t l = 0; l < k; ++l)
    for (std::size_t j = 0; j < n; ++j) bt.set(j * k + l, bv[l * n + j]);
  for (bool ta : {false, true}) {
    for (bool tb : {false, true}) {
      CAPTURE(flags_str(ta, tb));
      std::vector<double> y = matmul(Var(ta ? at : a), Var(tb ? bt : b), ta, tb).value().to_vector();
      REQUIRE(y.size() == m * n);
      double worst = 0;
      for (std::size_t i = 0; i < m; ++i) {
        for (std::size_t j = 0; j < n; ++j) {
          double s = 0, scale = 0;
          for (std::size_t l = 0; l < k; ++l) {
            s += av[i * k + l] * bv[l * n + j];
            scale += std::abs(av[i * k + l] * bv[l * n + j]);
          }
          // Relative to the size of the terms: a sum that cancels to near 0 is still held to 1e-5.
          worst = std::max(worst, std::abs(y[i * n + j] - s) / scale);
        }
      }
      CHECK(worst < 1e-5);
    }
  }
}

TEST_CASE("matmul with zero sizes: M, N or K = 0 and batch 0 work, K = 0 gives zeros") {
  for (DType dt : {DType::f32, DType::f64}) {
    for (bool ta : {false, true}) {
      for (bool tb : {false, true}) {
        CAPTURE(flags_str(ta, tb));
        CAPTURE(std::string(dtype_name(dt)));
        for (Shape batch : {Shape{}, Shape{2}}) {
          // K = 0: zeros, and empty gradients.
          Var a(Tensor::zeros(stored(batch, 3, 0, ta), dt), true), b(Tensor::zeros(stored(batch, 0, 4, tb), dt), true);
          Var y = matmul(a, b, ta, tb);
          CHECK(y.size() == 3 * 4 * (batch.empty() ? 1 : 2));
          CHECK(y.value().to_vector() == std::vector<double>(y.size(), 0.0));
          y.backward(Tensor::ones(y.shape(), dt));
          CHECK(a.grad().shape() == a.shape());
          CHECK(b.grad().shape() == b.shape());
          // M = 0: an empty result, and b's gradient is zeros of its shape.
          Var a0(Tensor::zeros(stored(batch, 0, 3, ta), dt), true), b0(Tensor::ones(stored(batch, 3, 4, tb), dt), true);
          Var y0 = matmul(a0, b0, ta, tb);
          CHECK(y0.size() == 0);
          y0.backward(Tensor::zeros(y0.shape(), dt));
          CHECK(b0.grad().shape() == b0.shape());
          CHECK(b0.grad().to_vector() == std::vector<double>(b0.size(), 0.0));
          // N = 0.
          Var a1(Tensor::ones(stored(batch, 2, 3, ta), dt), true), b1(Tensor::zeros(stored(batch, 3, 0, tb), dt), true);
          Var y1 = matmul(a1, b1, ta, tb);
          CHECK(y1.size() == 0);
          y1.backward(Tensor::zeros(y1.shape(), dt));
          CHECK(a1.grad().to_vector() == std::vector<double>(a1.size(), 0.0));
        }
        // Batch 0 against a shared operand: an empty result, zero gradient for the shared one.
        Var s(Tensor::ones(stored({1}, 2, 3, ta), dt), true), e(Tensor::zeros(stored({0}, 3, 4, tb), dt), true);
        Var y = matmul(s, e, ta, tb);
        CHECK(y.shape() == Shape{0, 2, 4});
        y.backward(Tensor::zeros(y.shape(), dt));
        CHECK(s.grad().to_vector() == std::vector<double>(6, 0.0));
        CHECK(e.grad().shape() == e.shape());
        // [0, M, K] x [K, N]: the folded gemm over zero rows.
        Var f(Tensor::zeros(stored({0}, 2, 3, ta), dt), true), w(Tensor::ones(stored({}, 3, 4, tb), dt), true);
        Var yf = matmul(f, w, ta, tb);
        CHECK(yf.shape() == Shape{0, 2, 4});
        yf.backward(Tensor::zeros(yf.shape(), dt));
        CHECK(w.grad().to_vector() == std::vector<double>(12, 0.0));
      }
    }
  }
}

TEST_CASE("matmul errors name the op, both shapes and the transpose flags") {
  Var a(Tensor::zeros({2, 3})), b(Tensor::zeros({4, 5}));
  CHECK_THROWS_WITH_AS(matmul(a, b), doctest::Contains("op 'matmul'"), ShapeError);
  CHECK_THROWS_WITH_AS(
      matmul(a, b), doctest::Contains("a [2, 3] (transpose_a = false) by b [4, 5] (transpose_b = false)"), ShapeError);
  CHECK_THROWS_WITH_AS(matmul(a, b), doctest::Contains("inner sizes differ (3 vs 4)"), ShapeError);
  CHECK_THROWS_WITH_AS(
      matmul(a, Var(Tensor::zeros({2, 5})), true, true),
      doctest::Contains("(transpose_a = true) by b [2, 5] (transpose_b = true): inner sizes differ (2 vs 5)"),
      ShapeError);
  CHECK_NOTHROW(matmul(a, Var(Tensor::zeros({5, 3})), false, true));
  // Unsupported ranks.
  CHECK_THROWS_WITH_AS(matmul(Var(Tensor::zeros({3})), Var(Tensor::zeros({3, 2}))), doctest::Contains("a [3]"),
                       ShapeError);
  CHECK_THROWS_WITH_AS(matmul(Var(Tensor::zeros({2, 2, 2, 2})), Var(Tensor::zeros({2, 2}))),
                       doctest::Contains("[2, 2, 2, 2]"), ShapeError);
  CHECK_THROWS_WITH_AS(matmul(a, Var(Tensor::zeros({2, 3, 4}))), doctest::Contains("supported are"), ShapeError);
  Shape rank0;
  CHECK_THROWS_AS(matmul(Var(Tensor::zeros(rank0)), a), ShapeError);
  // Batches that do not broadcast.
  CHECK_THROWS_WITH_AS(matmul(Var(Tensor::zeros({2, 3, 4})), Var(Tensor::zeros({3, 4, 5}))),
                       doctest::Contains("batch sizes 2 and 3"), ShapeError);
  // Dtypes.
  CHECK_THROWS_WITH_AS(
      matmul(a, Var(Tensor::zeros({3, 4}, DType::f64)), false, true),
      doctest::Contains("a [2, 3] (transpose_a = false) is float32 but b [3, 4] (transpose_b = true) is "
                        "float64"),
      DTypeError);
  NameScope scope("attention");
  CHECK_THROWS_WITH_AS(matmul(a, b), doctest::Contains("scope 'attention'"), ShapeError);
}

TEST_CASE("linear is x weight^T + bias in PyTorch's layout, with and without bias") {
  std::uint64_t seed = 480;
  for (Shape x_shape : {Shape{4, 3}, Shape{1, 3}, Shape{2, 5, 3}, Shape{2, 1, 3}}) {
    CAPTURE(shape_str(x_shape));
    Tensor x = randn(x_shape, seed++), w = randn({6, 3}, seed++), bias = randn({6}, seed++);
    expect_gradcheck([](const std::vector<Var>& v) { return linear(v[0], v[1], v[2]); }, {x, w, bias});
    expect_gradcheck([](const std::vector<Var>& v) { return linear(v[0], v[1]); }, {x, w});
    Shape y_shape = x_shape;
    y_shape.back() = 6;
    CHECK(linear(Var(x), Var(w), Var(bias)).shape() == y_shape);
  }
  for (DType dt : {DType::f32, DType::f64}) {
    // x [1, 2] = [1, 2], weight [[1, 0], [0, 1], [1, 1]], bias [10, 20, 30] -> [11, 22, 33]
    Var x(Tensor::from_vector({1, 2}, {1, 2}, dt));
    Var w(Tensor::from_vector({1, 0, 0, 1, 1, 1}, {3, 2}, dt));
    Var bias(Tensor::from_vector({10, 20, 30}, {3}, dt));
    CHECK(linear(x, w, bias).value().to_vector() == std::vector<double>{11, 22, 33});
    CHECK(linear(x, w).value().to_vector() == std::vector<double>{1, 2, 3});
  }
}

TEST_CASE("addmm is c + op(a) op(b), with c a matrix or a row added to every row") {
  std::uint64_t seed = 520;
  for (const auto& entry : {std::array<std::size_t, 3>{4, 3, 5}, {1, 3, 5}, {4, 1, 5}, {4, 3, 1}}) {
    const auto& m = std::get<0>(entry);
    const auto& k = std::get<1>(entry);
    const auto& n = std::get<2>(entry);
    CAPTURE(m);
    CAPTURE(k);
    CAPTURE(n);
    for (bool ta : {false, true}) {
      for (bool tb : {false, true}) {
        CAPTURE(ta);
        CAPTURE(tb);
        Tensor a = randn(ta ? Shape{k, m} : Shape{m, k}, seed++), b = randn(tb ? Shape{n, k} : Shape{k, n}, seed++);
        for (Shape c_shape : {Shape{m, n}, Shape{n}}) {
          Tensor c = randn(c_shape, seed++);
          auto f = [ta, tb](const std::vector<Var>& v) { return addmm(v[0], v[1], v[2], ta, tb); };
          expect_gradcheck(f, {c, a, b});
          // Against the composed ops it replaces.
          Var fused = addmm(Var(c), Var(a), Var(b), ta, tb);
          Var composed = add(matmul(Var(a), Var(b), ta, tb), Var(c));
          CHECK(fused.shape() == Shape{m, n});
          const std::vector<double> got = fused.value().to_vector(), want = composed.value().to_vector();
          for (std::size_t i = 0; i < got.size(); ++i) CHECK(got[i] == doctest::Approx(want[i]).epsilon(1e-12));
        }
      }
    }
  }
}

TEST_CASE("addmm names the op and the three shapes when they do not fit") {
  Var a(Tensor::zeros({4, 3})), b(Tensor::zeros({3, 5}));
  CHECK_THROWS_WITH_AS(addmm(Var(Tensor::zeros({4, 4})), a, b),
                       doctest::Contains("op 'addmm': c [4, 4] must be [M, N] = [4, 5] or [N] = [5] for a [4, 3]"),
                       ShapeError);
  CHECK_THROWS_WITH_AS(addmm(Var(Tensor::zeros({4, 5})), a, Var(Tensor::zeros({4, 5}))),
                       doctest::Contains("inner sizes differ (3 vs 4)"), ShapeError);
  CHECK_THROWS_WITH_AS(addmm(Var(Tensor::zeros({5})), Var(Tensor::zeros({2, 4, 3})), b),
                       doctest::Contains("must be matrices"), ShapeError);
  CHECK_THROWS_WITH_AS(addmm(Var(Tensor::zeros({4, 5}, DType::f64)), a, b), doctest::Contains("op 'addmm'"),
                       DTypeError);
}

TEST_CASE("linear_pair is x1 w1^T + x2 w2^T + b1 + b2, either bias optional") {
  std::uint64_t seed = 560;
  for (const auto& entry : {std::array<std::size_t, 4>{4, 3, 2, 5}, {1, 3, 2, 5}, {4, 1, 1, 5}, {4, 3, 2, 1}}) {
    const auto& rows = std::get<0>(entry);
    const auto& in1 = std::get<1>(entry);
    const auto& in2 = std::get<2>(entry);
    const auto& out = std::get<3>(entry);
    CAPTURE(rows);
    CAPTURE(out);
    Tensor x1 = randn({rows, in1}, seed++), w1 = randn({out, in1}, seed++), x2 = randn({rows, in2}, seed++),
           w2 = randn({out, in2}, seed++), b1 = randn({out}, seed++), b2 = randn({out}, seed++);
    expect_gradcheck([](const std::vector<Var>& v) { return linear_pair(v[0], v[1], v[2], v[3], v[4], v[5]); },
                     {x1, w1, x2, w2, b1, b2});
    expect_gradcheck([](const std::vector<Var>& v) { return linear_pair(v[0], v[1], v[2], v[3]); }, {x1, w1, x2, w2});
    expect_gradcheck([](const std::vector<Var>& v) { return linear_pair(v[0], v[1], v[2], v[3], Var(), v[4]); },
                     {x1, w1, x2, w2, b2});
    // Against the ops it replaces.
    const std::vector<double> got =
        linear_pair(Var(x1), Var(w1), Var(x2), Var(w2), Var(b1), Var(b2)).value().to_vector();
    const std::vector<double> want =
        add(linear(Var(x1), Var(w1), Var(b1)), linear(Var(x2), Var(w2), Var(b2))).value().to_vector();
    REQUIRE(got.size() == rows * out);
    for (std::size_t i = 0; i < got.size(); ++i) CHECK(got[i] == doctest::Approx(want[i]).epsilon(1e-12));
  }
  Var x1(Tensor::zeros({4, 3})), w1(Tensor::zeros({6, 3})), x2(Tensor::zeros({4, 2})), w2(Tensor::zeros({6, 2}));
  CHECK_THROWS_WITH_AS(linear_pair(x1, w1, Var(Tensor::zeros({5, 2})), w2),
                       doctest::Contains("op 'linear_pair': x1 [4, 3] with w1 [6, 3] and x2 [5, 2] with w2 [6, 2]"),
                       ShapeError);
  CHECK_THROWS_WITH_AS(linear_pair(x1, w1, x2, Var(Tensor::zeros({5, 2}))), doctest::Contains("w2 [5, 2]"), ShapeError);
  CHECK_THROWS_WITH_AS(linear_pair(x1, w1, x2, w2, Var(Tensor::zeros({5}))), doctest::Contains("bias [5]"), ShapeError);
  CHECK_THROWS_AS(linear_pair(x1, w1, Var(Tensor::zeros({4, 2}, DType::f64)), Var(Tensor::zeros({6, 2}, DType::f64))),
                  DTypeError);
}

TEST_CASE("linear names the op and all shapes when they do not fit") {
  Var x(Tensor::zeros({4, 3})), w(Tensor::zeros({6, 3})), bias(Tensor::zeros({6}));
  CHECK_THROWS_WITH_AS(linear(x, Var(Tensor::zeros({6, 4})), bias),
                       doctest::Contains("op 'linear': x [4, 3], weight [6, 4] and bias [6] do not fit"), ShapeError);
  CHECK_THROWS_WITH_AS(linear(x, w, Var(Tensor::zeros({3}))), doctest::Contains("bias [3]"), ShapeError);
  CHECK_THROWS_WITH_AS(linear(Var(Tensor::zeros({3})), w), doctest::Contains("x [3], weight [6, 3] do not fit"),
                       ShapeError);
  CHECK_THROWS_WITH_AS(linear(x, w, Var(Tensor::zeros({6}, DType::f64))), doctest::Contains("op 'linear'"), DTypeError);
}

TEST_CASE("a float32 matmul and its gradients are the same through libxsmm and through OpenBLAS") {
  test::RestoreSmallGemm restore;
  // y = a b + a c^T: the forward's a b and the backward's dy c are products libxsmm takes.
  std::vector<std::vector<double>> results[2];
  for (SmallGemm policy : {SmallGemm::never, SmallGemm::always}) {
    set_small_gemm(policy);
    Var va(Tensor::normal({32, 128}, 0, 1, 490, DType::f32), true);
    Var vb(Tensor::normal({128, 96}, 0, 1, 491, DType::f32), true);
    Var vc(Tensor::normal({96, 128}, 0, 1, 492, DType::f32), true);
    Var y = add(matmul(va, vb), matmul(va, vc, false, true));
    sum(mul(y, y)).backward();
    results[policy == SmallGemm::always] = {y.value().to_vector(), va.grad().to_vector(), vb.grad().to_vector(),
                                            vc.grad().to_vector()};
  }
  for (std::size_t r = 0; r < 4; ++r) {
    CAPTURE(r);
    const std::vector<double>&ob = results[0][r], &xs = results[1][r];
    REQUIRE(ob.size() == xs.size());
    double worst = 0, scale = 0;
    for (std::size_t i = 0; i < ob.size(); ++i) {
      worst = std::max(worst, std::abs(ob[i] - xs[i]));
      scale = std::max(scale, std::abs(ob[i]));
    }
    CHECK(worst <= 1e-5 * scale);
  }
}
