// The BLAS dispatch (kernels/blas.hpp) against xtensor-blas's xt::linalg::dot in
// float64: every layout, vectors (gemv, ger), libxsmm's small products, accumulation.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <vector>

#include <xtensor-blas/xlinalg.hpp>
#include <xtensor/xadapt.hpp>
#include <xtensor/xarray.hpp>
#include <xtensor/xmanipulation.hpp>

#include "tapegrad/kernels/blas.hpp"

using namespace tg;

namespace {

struct Dims {
  std::size_t m, n, k;
};

// Restores the small-product policy a test changes.
struct RestoreSmallGemm {
  SmallGemm before = small_gemm();
  ~RestoreSmallGemm() { set_small_gemm(before); }
};

// Deterministic values in [-1, 1) that differ from element to element.
template <class T>
std::vector<T> filled(std::size_t count, std::size_t seed) {
  std::vector<T> v(count);
  for (std::size_t i = 0; i < count; ++i) v[i] = T(double((i * 7919 + seed * 104729) % 2003) / 1001.5 - 1.0);
  return v;
}

// op(x) op(y) (+ z when accumulating) in float64 by xtensor-blas, from row-major buffers as
// tg::gemm reads them: x is [m, k] or, transposed, [k, m]; y is [k, n] or [n, k].
template <class T>
xt::xarray<double> reference(const Dims& d, bool tx, bool ty, const std::vector<T>& x, const std::vector<T>& y,
                             bool accumulate, const std::vector<T>& z) {
  std::vector<double> xd(x.begin(), x.end()), yd(y.begin(), y.end()), zd(z.begin(), z.end());
  xt::xarray<double> xa = xt::adapt(xd, std::vector<std::size_t>{tx ? d.k : d.m, tx ? d.m : d.k});
  xt::xarray<double> ya = xt::adapt(yd, std::vector<std::size_t>{ty ? d.n : d.k, ty ? d.k : d.n});
  xt::xarray<double> opx = tx ? xt::xarray<double>(xt::transpose(xa)) : xa;
  xt::xarray<double> opy = ty ? xt::xarray<double>(xt::transpose(ya)) : ya;
  xt::xarray<double> product = xt::linalg::dot(opx, opy);
  if (accumulate) product += xt::adapt(zd, std::vector<std::size_t>{d.m, d.n});
  return product;
}

// The largest error of `got` relative to the sum of the magnitudes each entry adds up.
template <class T>
double worst_relative_error(const Dims& d, bool tx, bool ty, const std::vector<T>& x, const std::vector<T>& y,
                            bool accumulate, const std::vector<T>& z, const std::vector<T>& got) {
  const xt::xarray<double> expected = reference(d, tx, ty, x, y, accumulate, z);
  std::vector<double> ax(x.size()), ay(y.size()), az(z.size());
  std::transform(x.begin(), x.end(), ax.begin(), [](T v) { return std::abs(double(v)); });
  std::transform(y.begin(), y.end(), ay.begin(), [](T v) { return std::abs(double(v)); });
  std::transform(z.begin(), z.end(), az.begin(), [](T v) { return std::abs(double(v)); });
  const xt::xarray<double> scale = reference(d, tx, ty, ax, ay, accumulate, az);
  double worst = 0;
  for (std::size_t i = 0; i < d.m; ++i) {
    for (std::size_t j = 0; j < d.n; ++j) {
      const double s = std::max(scale(i, j), 1e-30);
      worst = std::max(worst, std::abs(double(got[i * d.n + j]) - expected(i, j)) / s);
    }
  }
  return worst;
}

template <class T>
void check_every_layout(const std::vector<Dims>& dims, double tolerance) {
  for (const Dims& d : dims) {
    for (int layout = 0; layout < 8; ++layout) {
      const bool tx = layout & 1, ty = layout & 2, accumulate = layout & 4;
      CAPTURE(d.m);
      CAPTURE(d.n);
      CAPTURE(d.k);
      CAPTURE(tx);
      CAPTURE(ty);
      CAPTURE(accumulate);
      const std::vector<T> x = filled<T>(d.m * d.k, 1), y = filled<T>(d.k * d.n, 2), z = filled<T>(d.m * d.n, 3);
      std::vector<T> got = z;
      gemm<T>(tx, ty, d.m, d.n, d.k, x.data(), y.data(), accumulate, got.data());
      CHECK(worst_relative_error(d, tx, ty, x, y, accumulate, z, got) < tolerance);
    }
  }
}

}  // namespace

TEST_CASE("gemm matches xtensor-blas in every layout: vectors (gemv, ger), small and large products") {
  // M, N or K = 1 go to gemv or ger; the rest to libxsmm or OpenBLAS's gemm.
  const std::vector<Dims> dims = {{1, 5, 3}, {4, 1, 3}, {4, 5, 1},   {1, 1, 3},     {1, 5, 1},    {4, 1, 1},
                                  {1, 1, 1}, {2, 3, 4}, {17, 33, 9}, {32, 128, 64}, {65, 70, 300}};
  check_every_layout<float>(dims, 1e-5);
  check_every_layout<double>(dims, 1e-12);
}

TEST_CASE("gemm with K = 0 writes zeros, or adds nothing when accumulating") {
  for (bool accumulate : {false, true}) {
    std::vector<float> z = {1, 2, 3, 4, 5, 6};
    gemm<float>(false, false, 2, 3, 0, nullptr, nullptr, accumulate, z.data());
    CHECK(z == (accumulate ? std::vector<float>{1, 2, 3, 4, 5, 6} : std::vector<float>(6, 0)));
  }
}

TEST_CASE("float products through libxsmm (SmallGemm::always) match xtensor-blas, with and without accumulating") {
  RestoreSmallGemm restore;
  CHECK(small_gemm() == SmallGemm::automatic);
  // Tails of libxsmm's vector width, one row, one column, and a recurrent step's shapes.
  for (Dims d : {Dims{1, 1, 1}, Dims{3, 5, 7}, Dims{17, 33, 9}, Dims{32, 512, 128}, Dims{32, 128, 512},
                 Dims{64, 200, 100}, Dims{1, 128, 32}}) {
    CAPTURE(d.m);
    CAPTURE(d.n);
    CAPTURE(d.k);
    const std::vector<float> x = filled<float>(d.m * d.k, 4), y = filled<float>(d.k * d.n, 5),
                             z = filled<float>(d.m * d.n, 6);
    for (bool accumulate : {false, true}) {
      CAPTURE(accumulate);
      std::vector<float> got = z;
      set_small_gemm(SmallGemm::never);
      CHECK_FALSE(small_sgemm_nn(d.m, d.n, d.k, x.data(), y.data(), accumulate, got.data()));
      set_small_gemm(SmallGemm::always);
#if defined(__x86_64__)
      REQUIRE(small_sgemm_nn(d.m, d.n, d.k, x.data(), y.data(), accumulate, got.data()));
#else
      if (!small_sgemm_nn(d.m, d.n, d.k, x.data(), y.data(), accumulate, got.data())) continue;
#endif
      CHECK(worst_relative_error(d, false, false, x, y, accumulate, z, got) < 1e-5);
    }
  }
}
