#include <cmath>
#include <string>
#include <vector>

#include "check.hpp"
#include "tapegrad/kernels/blas.hpp"
#include "tapegrad/ops/elementwise.hpp"
#include "tapegrad/ops/linalg.hpp"
#include "tapegrad/ops/packed_weights.hpp"
#include "tapegrad/ops/reduce.hpp"

using namespace tg;

namespace {

Var weight(std::size_t out, std::size_t in, std::uint64_t seed) {
  return Var(Tensor::normal({out, in}, 0, 0.5, seed, DType::f32), true);
}

// y = linear(x1, w1, b) + linear_pair(x1, w1, x2, w2) + addmm(c, x2, w2^T), and the
// gradients of sum(y^2): every forward product that can take a packed weight.
std::vector<std::vector<double>> run(std::size_t rows, std::size_t out, std::size_t in1, std::size_t in2) {
  Var x1(Tensor::normal({rows, in1}, 0, 1, 501, DType::f32), true);
  Var x2(Tensor::normal({rows, in2}, 0, 1, 502, DType::f32), true);
  Var w1 = weight(out, in1, 503), w2 = weight(out, in2, 504);
  Var b(Tensor::normal({out}, 0, 1, 505, DType::f32), true);
  Var c(Tensor::normal({rows, out}, 0, 1, 506, DType::f32), true);
  Var y = add(add(linear(x1, w1, b), linear_pair(x1, w1, x2, w2)), addmm(c, x2, w2, false, true));
  sum(mul(y, y)).backward();
  return {y.value().to_vector(), x1.grad().to_vector(), x2.grad().to_vector(), w1.grad().to_vector(),
          w2.grad().to_vector(), b.grad().to_vector(),  c.grad().to_vector()};
}

}  // namespace

TEST_CASE("inside FrozenWeights, linear, linear_pair and addmm give the values and gradients they give outside") {
  test::RestoreSmallGemm restore;
  set_small_gemm(SmallGemm::always);
  // Panel tails (out not a multiple of 32), one panel, several, and one row.
  struct Dims {
    std::size_t rows, out, in1, in2;
  };
  for (Dims d : {Dims{32, 512, 64, 128}, Dims{5, 33, 7, 3}, Dims{1, 20, 4, 9}, Dims{17, 64, 31, 1}}) {
    CAPTURE(d.rows);
    CAPTURE(d.out);
    const auto plain = run(d.rows, d.out, d.in1, d.in2);
    std::vector<std::vector<double>> packed;
    {
      FrozenWeights frozen;
      CHECK(FrozenWeights::active());
      packed = run(d.rows, d.out, d.in1, d.in2);
#if defined(__x86_64__)
      CHECK(FrozenWeights::packed_count() == 2);  // w1 and w2, each packed once for its three uses
#endif
    }
    CHECK_FALSE(FrozenWeights::active());
    CHECK(FrozenWeights::packed_count() == 0);
    for (std::size_t r = 0; r < plain.size(); ++r) {
      CAPTURE(r);
      CHECK(test::relative_gap(packed[r], plain[r]) < 1e-5);
    }
  }
}

TEST_CASE("FrozenWeights: nested scopes keep the packed weights until the outermost ends; never packs nothing") {
  test::RestoreSmallGemm restore;
  set_small_gemm(SmallGemm::always);
  Var x(Tensor::normal({4, 8}, 0, 1, 510, DType::f32)), w = weight(40, 8, 511);
  std::vector<double> outer_y, inner_y;
  {
    FrozenWeights outer;
    outer_y = linear(x, w).value().to_vector();
    const std::size_t after_first = FrozenWeights::packed_count();
    {
      FrozenWeights inner;
      inner_y = linear(x, w).value().to_vector();
      CHECK(FrozenWeights::packed_count() == after_first);  // reused, not packed again
    }
    CHECK(FrozenWeights::packed_count() == after_first);
    // A computed (non-leaf) weight may change between uses: it is never packed.
    Var w2 = mul(w, Var(Tensor::scalar(2.0, DType::f32)));
    std::vector<double> y2 = linear(x, w2).value().to_vector();
    CHECK(FrozenWeights::packed_count() == after_first);
    for (std::size_t i = 0; i < y2.size(); ++i) CHECK(y2[i] == doctest::Approx(2 * outer_y[i]).epsilon(1e-5));
  }
  CHECK(FrozenWeights::packed_count() == 0);
  CHECK(outer_y == inner_y);
  set_small_gemm(SmallGemm::never);
  {
    FrozenWeights frozen;
    std::vector<double> y = linear(x, w).value().to_vector();
    CHECK(FrozenWeights::packed_count() == 0);
    CHECK(test::relative_gap(y, outer_y) < 1e-5);
  }
}

TEST_CASE("FrozenWeights leaves float64 products to BLAS: gradcheck's values are untouched") {
  test::RestoreSmallGemm restore;
  set_small_gemm(SmallGemm::always);
  Var x(Tensor::normal({16, 8}, 0, 1, 520, DType::f64)), w(Tensor::normal({24, 8}, 0, 1, 521, DType::f64), true);
  std::vector<double> outside = linear(x, w).value().to_vector();
  FrozenWeights frozen;
  std::vector<double> inside = linear(x, w).value().to_vector();
  CHECK(FrozenWeights::packed_count() == 0);
  CHECK(inside == outside);
}

TEST_CASE("with more than one BLAS thread, products over 4M multiply-adds are left to OpenBLAS's threads") {
  const int before = blas_threads();
  set_blas_threads(1);
  CHECK_FALSE(blas_threads_pay(64, 2048, 512));
  set_blas_threads(2);
  CHECK(blas_threads_pay(64, 2048, 512));       // a medium step's h W_hh^T: 67M
  CHECK_FALSE(blas_threads_pay(32, 512, 128));  // a small step's: 2M, one libxsmm thread wins
  CHECK_FALSE(blas_threads_pay(64, 256, 256));  // exactly 4M
  CHECK(blas_threads_pay(64, 256, 257));
  // Under SmallGemm::automatic such a product never reaches libxsmm, whatever the CPU.
  test::RestoreSmallGemm restore;
  set_small_gemm(SmallGemm::automatic);
  std::vector<float> x(64 * 512, 1.0f), y(512 * 512, 1.0f), z(64 * 512);
  CHECK_FALSE(small_sgemm_nn(64, 512, 512, x.data(), y.data(), false, z.data()));
  set_blas_threads(before);
}

TEST_CASE("the backward's dx = dy w through w packed for the pass equals OpenBLAS's, across block and panel tails") {
  test::RestoreSmallGemm restore;
  // k = out spans two blocks of 256 rows and a tail of 88; n = in spans a panel and a tail.
  struct Dims {
    std::size_t rows, out, in1, in2;
  };
  for (Dims d : {Dims{17, 600, 40, 33}, Dims{64, 2048, 32, 96}, Dims{3, 256, 5, 64}}) {
    CAPTURE(d.rows);
    CAPTURE(d.out);
    set_small_gemm(SmallGemm::never);
    const auto plain = run(d.rows, d.out, d.in1, d.in2);
    set_small_gemm(SmallGemm::always);
    const auto packed = run(d.rows, d.out, d.in1, d.in2);
    for (std::size_t r = 0; r < plain.size(); ++r) {
      CAPTURE(r);
      CHECK(test::relative_gap(packed[r], plain[r]) < 1e-5);
    }
  }
}
