#pragma once
// Test helpers for op suites.

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "tapegrad/autodiff/gradcheck.hpp"
#include "tapegrad/autodiff/tensor.hpp"
#include "tapegrad/kernels/blas.hpp"

namespace tg::test {

/// Runs gradcheck with the project's standard tolerances and fails the test
/// case with the report's message (worst element, both values) if it fails.
inline void expect_gradcheck(const GradcheckFn& f, const std::vector<Tensor>& inputs) {
  GradcheckReport report = gradcheck(f, inputs);
  INFO(report.message());
  CHECK(report.passed);
}

/// The ops that a test passed an undefined Var and that named themselves and the
/// argument in their error (tests/ops/test_undefined.cpp): tests/ops/main.cpp
/// fails the suite if an op recorded in ops/ is missing.
inline std::set<std::string>& ops_checked_for_undefined() {
  static std::set<std::string> ops;
  return ops;
}

/// float64 values from N(0, 1), reproducible per seed.
inline Tensor randn(const Shape& shape, std::uint64_t seed) {
  return Tensor::normal(shape, 0.0, 1.0, seed, DType::f64);
}
/// float64 values uniform in [low, high), reproducible per seed.
inline Tensor rand(const Shape& shape, double low, double high, std::uint64_t seed) {
  return Tensor::uniform(shape, low, high, seed, DType::f64);
}

/// Shape pairs that broadcast, including size-1 dimensions and a rank-0 operand.
inline std::vector<std::pair<Shape, Shape>> broadcast_cases() {
  Shape rank0;
  std::vector<std::pair<Shape, Shape>> cases;
  cases.emplace_back(Shape{3, 4}, Shape{3, 4});
  cases.emplace_back(Shape{3, 4}, Shape{4});
  cases.emplace_back(Shape{2, 1, 4}, Shape{3, 1});
  cases.emplace_back(Shape{1}, Shape{2, 3});
  cases.emplace_back(rank0, Shape{2, 3});
  cases.emplace_back(Shape{2, 3}, Shape{1, 1});
  return cases;
}

/// The largest difference between a and b, relative to b's largest magnitude: how far
/// two kernel paths' results differ.
inline double relative_gap(const std::vector<double>& a, const std::vector<double>& b) {
  REQUIRE(a.size() == b.size());
  double gap = 0, scale = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    gap = std::max(gap, std::abs(a[i] - b[i]));
    scale = std::max(scale, std::abs(b[i]));
  }
  return gap / scale;
}

/// Puts the small-product policy (kernels/blas.hpp) back as it was when the test ends.
struct RestoreSmallGemm {
  SmallGemm before = small_gemm();
  ~RestoreSmallGemm() { set_small_gemm(before); }
};

}  // namespace tg::test
