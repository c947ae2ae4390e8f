// The int8 products of quantized inference (kernels/int8_gemm.hpp): exact against integer
// arithmetic done here, within the quantization error bound of the float product, on every
// shape class the models use.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <vector>

#include "tapegrad/base/error.hpp"
#include "tapegrad/kernels/fast_math.hpp"
#include "tapegrad/kernels/int8_gemm.hpp"

using namespace tg;

namespace {

// Deterministic values in [-scale, scale) that differ from element to element, with an offset
// so that rows are not symmetric about 0.
std::vector<float> filled(std::size_t count, std::size_t seed, float scale = 1.0f, float offset = 0.0f) {
  std::vector<float> v(count);
  for (std::size_t i = 0; i < count; ++i) {
    v[i] = scale * static_cast<float>(double((i * 7919 + seed * 104729) % 2003) / 1001.5 - 1.0) + offset;
  }
  return v;
}

struct Dims {
  std::size_t m, n, k;
};

// The shape classes of the models: one row (a word decoded alone), a beam's few rows, a
// batch's, many rows (an encoder's input projection), odd sizes, k below a vector's width.
const Dims kShapes[] = {{1, 7, 5},      {1, 1024, 512}, {5, 1024, 512}, {3, 33, 17},
                        {64, 256, 256}, {131, 97, 129}, {640, 512, 64}, {2, 3, 1}};

// Row i's activation scale as the kernel documents it: from row i's range, or all of x's.
ActivationScale scale_of_row(const std::vector<float>& x, std::size_t m, std::size_t k, std::size_t i,
                             ActivationQuantization mode) {
  const float* from = mode == ActivationQuantization::per_tensor ? x.data() : x.data() + i * k;
  const std::size_t span = mode == ActivationQuantization::per_tensor ? m * k : k;
  float low = 0.0f, high = 0.0f;
  for (std::size_t t = 0; t < span; ++t) {
    low = std::min(low, from[t]);
    high = std::max(high, from[t]);
  }
  return choose_activation_scale(low, high);
}

// The activations' quantization as the kernel documents it, then the product in exact integers.
std::vector<double> integer_reference(std::size_t m, const std::vector<float>& x, const Int8Matrix& w,
                                      ActivationQuantization mode) {
  const std::size_t n = w.rows, k = w.cols;
  std::vector<double> y(m * n);
  for (std::size_t i = 0; i < m; ++i) {
    const float* row = x.data() + i * k;
    const ActivationScale a = scale_of_row(x, m, k, i, mode);
    for (std::size_t j = 0; j < n; ++j) {
      std::int64_t sum = 0;
      for (std::size_t t = 0; t < k; ++t) {
        volatile float product = row[t] * a.inverse;  // rounded before the sum, as the kernel does
        const float q = std::clamp(std::nearbyint(product + float(a.zero_point)), 0.0f, 255.0f);
        sum += (static_cast<std::int64_t>(q) - a.zero_point) * w.values[j * k + t];
      }
      y[i * n + j] = double(a.scale) * w.scale(j) * double(sum);
    }
  }
  return y;
}

}  // namespace

TEST_CASE("int8_times_weight_t is the integer product of the quantized values, for every shape class") {
  for (const Dims& d : kShapes) {
    for (bool per_row_weights : {true, false}) {
      for (auto mode : {ActivationQuantization::per_row, ActivationQuantization::per_tensor}) {
        CAPTURE(d.m);
        CAPTURE(d.n);
        CAPTURE(d.k);
        CAPTURE(per_row_weights);
        CAPTURE(int(mode));
        const std::vector<float> x = filled(d.m * d.k, 1, 3.0f, 0.5f);
        const std::vector<float> wf = filled(d.n * d.k, 2, 0.2f);
        const Int8Matrix w = quantize_symmetric(wf.data(), d.n, d.k, per_row_weights);
        std::vector<float> y(d.m * d.n, 0.0f);
        int8_times_weight_t(d.m, x.data(), w, mode, false, y.data());
        const std::vector<double> want = integer_reference(d.m, x, w, mode);
        double worst = 0.0;
        for (std::size_t i = 0; i < y.size(); ++i) {
          worst = std::max(worst, std::abs(y[i] - want[i]) / (1.0 + std::abs(want[i])));
        }
        CHECK(worst < 1e-5);
      }
    }
  }
}

TEST_CASE("int8_times_weight_t is within the quantization error bound of the float product") {
  // |x w^T - x^ w^^T| <= sum_k |x_k| |w_jk - w^_jk| + |x_k - x^_k| |w^_jk|, with each value's
  // rounding at most half its scale; the products with the quantized values are exact.
  for (const Dims& d : kShapes) {
    for (bool per_row_weights : {true, false}) {
      for (auto mode : {ActivationQuantization::per_row, ActivationQuantization::per_tensor}) {
        CAPTURE(d.m);
        CAPTURE(d.n);
        CAPTURE(d.k);
        const std::vector<float> x = filled(d.m * d.k, 3, 2.0f, -0.7f);
        const std::vector<float> wf = filled(d.n * d.k, 4, 0.3f);
        const Int8Matrix w = quantize_symmetric(wf.data(), d.n, d.k, per_row_weights);
        std::vector<float> y(d.m * d.n, 0.0f);
        int8_times_weight_t(d.m, x.data(), w, mode, false, y.data());
        std::size_t outside = 0;
        for (std::size_t i = 0; i < d.m; ++i) {
          const float* row = x.data() + i * d.k;
          const float s = scale_of_row(x, d.m, d.k, i, mode).scale;
          for (std::size_t j = 0; j < d.n; ++j) {
            double exact = 0.0, bound = 0.0;
            for (std::size_t t = 0; t < d.k; ++t) {
              const double wv = wf[j * d.k + t];
              exact += double(row[t]) * wv;
              bound += std::abs(row[t]) * w.scale(j) / 2 + s / 2.0 * (std::abs(wv) + w.scale(j) / 2);
            }
            if (std::abs(y[i * d.n + j] - exact) > bound * (1 + 1e-5) + 1e-6) ++outside;
          }
        }
        CHECK(outside == 0);
      }
    }
  }
}

TEST_CASE("int8_times_weight_t accumulates into y, and k = 0 writes zeros or adds nothing") {
  const std::vector<float> x = filled(4 * 6, 5);
  const std::vector<float> wf = filled(3 * 6, 6);
  const Int8Matrix w = quantize_symmetric(wf.data(), 3, 6, true);
  std::vector<float> alone(12), added(12, 2.5f);
  int8_times_weight_t(4, x.data(), w, ActivationQuantization::per_row, false, alone.data());
  int8_times_weight_t(4, x.data(), w, ActivationQuantization::per_row, true, added.data());
  for (std::size_t i = 0; i < 12; ++i) CHECK(added[i] == doctest::Approx(alone[i] + 2.5f).epsilon(1e-6));

  const Int8Matrix empty = quantize_symmetric(nullptr, 3, 0, true);
  std::vector<float> y(12, 7.0f);
  int8_times_weight_t(4, x.data(), empty, ActivationQuantization::per_row, true, y.data());
  CHECK(y == std::vector<float>(12, 7.0f));
  int8_times_weight_t(4, x.data(), empty, ActivationQuantization::per_row, false, y.data());
  CHECK(y == std::vector<float>(12, 0.0f));
}

TEST_CASE("quantize_symmetric: PyTorch's symmetric qint8, max |w| / 127.5 per row, within half a scale") {
  const std::vector<float> w = {0.5f, -1.27f, 0.01f, 0.0f, 0.0f, 0.0f, 2.54f, 1.27f, -0.005f};
  const Int8Matrix q = quantize_symmetric(w.data(), 3, 3, true);
  CHECK(q.scales == std::vector<float>{1.27f / 127.5f, std::numeric_limits<float>::epsilon(), 2.54f / 127.5f});
  CHECK(q.values[0] == 50);
  CHECK((q.values[1] == -128 || q.values[1] == -127));  // -127.5 after rounding the product
  CHECK(q.values[2] == 1);
  CHECK(q.values[3] == 0);
  CHECK(q.values[6] == 127);  // 127.5 rounds to 128, clamped
  CHECK(q.values[7] == 64);   // 63.75
  CHECK(q.values[8] == 0);
  std::int32_t first = 0;
  for (int i = 0; i < 3; ++i) first += q.values[i];
  CHECK(q.row_sums[0] == first);
  std::vector<float> back(9);
  dequantize(q, back.data());
  for (std::size_t i = 0; i < 9; ++i) CHECK(std::abs(back[i] - w[i]) <= q.scale(i / 3) / 2 * 1.0001f);

  const Int8Matrix whole = quantize_symmetric(w.data(), 3, 3, false);
  REQUIRE(whole.scales.size() == 1);
  CHECK(whole.scales[0] == 2.54f / 127.5f);
  CHECK(!whole.per_row());
  CHECK(whole.row_scales == std::vector<float>(3, 2.54f / 127.5f));

  const std::vector<float> bad = {1.0f, NAN};
  CHECK_THROWS_WITH_AS(quantize_symmetric(bad.data(), 1, 2, true),
                       doctest::Contains("quantize: weight [1, 2] holds nan at row 0, column 1"), Error);
}

TEST_CASE("int8_matrix refuses values and scales that do not fit") {
  CHECK_THROWS_WITH_AS(int8_matrix({1, 2, 3}, {1.0f}, 2, 2, "w"), doctest::Contains("w: 3 int8 values for a [2, 2]"),
                       Error);
  CHECK_THROWS_WITH_AS(int8_matrix({1, 2, 3, 4}, {1.0f, 1.0f, 1.0f}, 2, 2, "w"),
                       doctest::Contains("w: 3 scales for a weight of 2 rows"), Error);
  CHECK_THROWS_WITH_AS(int8_matrix({1, 2, 3, 4}, {1.0f, -0.5f}, 2, 2, "w"),
                       doctest::Contains("w: scale 1 is -0.5; scales must be finite and positive"), Error);
  const Int8Matrix q = int8_matrix({1, -2, 3, 4}, {0.5f, 0.25f}, 2, 2, "w");
  CHECK(q.row_sums == std::vector<std::int32_t>{-1, 7});
}

TEST_CASE("choose_activation_scale follows PyTorch's ChooseQuantizationParams with reduce_range") {
  // [-1, 3]: scale 4 / 127; the zero point from the smaller end, rounded.
  ActivationScale a = choose_activation_scale(-1.0f, 3.0f);
  CHECK(a.scale == float(4.0 / 127));
  CHECK(a.inverse == float(127.0 / 4));
  CHECK(a.zero_point == 32);  // 127 * 1 / 4 = 31.75
  // All non-negative: zero point 0; all non-positive: 127.
  CHECK(choose_activation_scale(0.5f, 2.0f).zero_point == 0);
  CHECK(choose_activation_scale(0.5f, 2.0f).scale == float(2.0 / 127));
  CHECK(choose_activation_scale(-2.0f, -0.5f).zero_point == 127);
  // All zeros: scale 0.1, as PyTorch.
  a = choose_activation_scale(0.0f, 0.0f);
  CHECK(a.scale == 0.1f);
  CHECK(a.zero_point == 0);
  // Tiny ranges are widened to the smallest scale, 6.1e-5.
  a = choose_activation_scale(0.0f, 1e-6f);
  CHECK(a.scale == 6.1e-5f);
  CHECK(a.zero_point == 0);
}

TEST_CASE("activations that are not finite quantize to the ends of the range, never to garbage") {
  // NaN quantizes as 0 (the zero point), infinities clamp; the row's range ignores NaN.
  const std::vector<float> x = {1.0f, NAN, -2.0f, 0.5f, 3.0f, 1.0f, 2.0f, 0.25f, -1.0f, 4.0f};
  const auto [low, high] = fast::range_with_zero(x.data(), x.size());
  CHECK(low == -2.0f);
  CHECK(high == 4.0f);
  std::vector<std::uint8_t> q(x.size());
  const ActivationScale a = choose_activation_scale(low, high);
  fast::quantize_7bit(x.data(), x.size(), 1.0f / a.scale, float(a.zero_point), q.data());
  CHECK(int(q[1]) == a.zero_point);
  for (std::size_t i = 0; i < x.size(); ++i) {
    if (i == 1) continue;
    volatile float product = x[i] * a.inverse;
    CHECK(int(q[i]) == int(std::clamp(std::nearbyint(product + float(a.zero_point)), 0.0f, 255.0f)));
  }
  // 3 * (1 / (6 / 127)) rounded to float is 63.5: with 10 added, 73.5 rounds to the even 74, where
  // a fused multiply-add (the product unrounded, 63.49999809...) would give 73
  // (tests/kernels/check_vectorised.sh checks that these loops hold no FMA); with 11 added, 74.5
  // rounds to 74, where rounding before adding would give 64 + 11 = 75.
  const std::vector<float> ends = {INFINITY, -INFINITY, 3.0f, 3.0f};
  const float inverse = 1.0f / float(6.0 / 127);
  fast::quantize_7bit(ends.data(), 2, inverse, 10.0f, q.data());
  CHECK(q[0] == 255);
  CHECK(q[1] == 0);
  fast::quantize_7bit(ends.data() + 2, 1, inverse, 10.0f, q.data() + 2);
  fast::quantize_7bit(ends.data() + 3, 1, inverse, 11.0f, q.data() + 3);
  CHECK(int(q[2]) == 74);
  CHECK(int(q[3]) == 74);
}
