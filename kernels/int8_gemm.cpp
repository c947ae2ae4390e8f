#include "tapegrad/kernels/int8_gemm.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include <fmt/format.h>
#include <oneapi/dnnl/dnnl.h>

#include "tapegrad/base/error.hpp"
#include "tapegrad/kernels/blas.hpp"
#include "tapegrad/kernels/fast_math.hpp"

// oneDNN runs its products on OpenMP threads (Debian's build links libgomp); each calling
// thread sets its own team size.
extern "C" void omp_set_num_threads(int threads);

namespace tg {
namespace {

// FBGEMM's reduce_range: activations in [0, 127].
constexpr std::int32_t kActivationMax = 127;
// PyTorch's SMALL_SCALE_THRESHOLD: smaller scales are raised to it (their reciprocals lose precision).
constexpr float kSmallScale = 6.1e-5f;

struct Scratch {
  std::vector<std::uint8_t> activations;
  std::vector<ActivationScale> scales;
  std::vector<std::int32_t> products;
};

thread_local Scratch scratch;

// The row sums and each row's scale, from the values and the scales.
void complete(Int8Matrix& q) {
  q.row_sums.assign(q.rows, 0);
  q.row_scales.resize(q.rows);
  for (std::size_t r = 0; r < q.rows; ++r) {
    std::int32_t sum = 0;
    for (std::size_t c = 0; c < q.cols; ++c) sum += q.values[r * q.cols + c];
    q.row_sums[r] = sum;
    q.row_scales[r] = q.scale(r);
  }
}

}  // namespace

Int8Matrix quantize_symmetric(const float* w, std::size_t rows, std::size_t cols, bool per_row) {
  Int8Matrix q;
  q.rows = rows;
  q.cols = cols;
  q.values.resize(rows * cols);
  for (std::size_t i = 0; i < rows * cols; ++i) {
    if (!std::isfinite(w[i])) {
      throw Error(
          fmt::format("quantize: weight [{}, {}] holds {} at row {}, column {}", rows, cols, w[i], i / cols, i % cols));
    }
  }
  const std::size_t groups = per_row ? rows : 1;
  const std::size_t span = per_row ? cols : rows * cols;
  q.scales.resize(groups);
  for (std::size_t g = 0; g < groups; ++g) {
    const float* from = w + g * span;
    float largest = 0.0f;
    for (std::size_t i = 0; i < span; ++i) largest = std::max(largest, std::abs(from[i]));
    const float scale = std::max(largest / 127.5f, std::numeric_limits<float>::epsilon());
    const float inverse = 1.0f / scale;
    q.scales[g] = scale;
    for (std::size_t i = 0; i < span; ++i) {
      q.values[g * span + i] = static_cast<std::int8_t>(std::clamp(std::nearbyint(from[i] * inverse), -128.0f, 127.0f));
    }
  }
  complete(q);
  return q;
}

Int8Matrix int8_matrix(std::vector<std::int8_t> values, std::vector<float> scales, std::size_t rows, std::size_t cols,
                       const char* what) {
  if (values.size() != rows * cols) {
    throw Error(fmt::format("{}: {} int8 values for a [{}, {}] weight", what, values.size(), rows, cols));
  }
  if (scales.size() != rows && scales.size() != 1) {
    throw Error(fmt::format("{}: {} scales for a weight of {} rows (one per row, or one)", what, scales.size(), rows));
  }
  for (std::size_t i = 0; i < scales.size(); ++i) {
    if (!std::isfinite(scales[i]) || scales[i] <= 0.0f) {
      throw Error(fmt::format("{}: scale {} is {}; scales must be finite and positive", what, i, scales[i]));
    }
  }
  Int8Matrix q;
  q.rows = rows;
  q.cols = cols;
  q.values = std::move(values);
  q.scales = std::move(scales);
  complete(q);
  return q;
}

void dequantize(const Int8Matrix& q, float* w) {
  for (std::size_t r = 0; r < q.rows; ++r) {
    const float scale = q.scale(r);
    for (std::size_t c = 0; c < q.cols; ++c) w[r * q.cols + c] = scale * q.values[r * q.cols + c];
  }
}

ActivationScale choose_activation_scale(float min, float max) {
  constexpr std::int32_t qmin = 0, qmax = kActivationMax;
  min = std::min(min, 0.0f);
  max = std::max(max, 0.0f);
  double scale = (static_cast<double>(max) - min) / (qmax - qmin);
  if (static_cast<float>(scale) == 0.0f || std::isinf(1.0f / static_cast<float>(scale))) scale = 0.1;
  if (scale < kSmallScale) {
    const float original = static_cast<float>(scale);
    scale = kSmallScale;
    if (min == 0.0f) {
      max = kSmallScale * (qmax - qmin);
    } else if (max == 0.0f) {
      min = -kSmallScale * (qmax - qmin);
    } else {
      const float amplifier = kSmallScale / original;
      min *= amplifier;
      max *= amplifier;
    }
  }
  // The zero point from whichever end adds the smaller terms, as PyTorch does.
  const double from_min = qmin - min / scale, from_max = qmax - max / scale;
  const double error_min = std::abs(qmin) - std::abs(min / scale), error_max = std::abs(qmax) - std::abs(max / scale);
  const double zero = error_min < error_max ? from_min : from_max;
  ActivationScale a;
  a.scale = static_cast<float>(scale);
  a.inverse = static_cast<float>(1.0 / scale);
  a.zero_point = zero < qmin ? qmin : zero > qmax ? qmax : static_cast<std::int32_t>(std::nearbyint(zero));
  return a;
}

void int8_times_weight_t(std::size_t m, const float* x, const Int8Matrix& w, ActivationQuantization activations,
                         bool accumulate, float* y) {
  const std::size_t n = w.rows, k = w.cols;
  if (m == 0 || n == 0) return;
  if (k == 0) {
    if (!accumulate) std::fill(y, y + m * n, 0.0f);
    return;
  }
  Scratch& s = scratch;
  s.activations.resize(m * k);
  s.scales.resize(m);
  s.products.resize(m * n);
  if (activations == ActivationQuantization::per_tensor) {
    const auto [low, high] = fast::range_with_zero(x, m * k);
    std::fill(s.scales.begin(), s.scales.end(), choose_activation_scale(low, high));
  } else {
    for (std::size_t i = 0; i < m; ++i) {
      const auto [low, high] = fast::range_with_zero(x + i * k, k);
      s.scales[i] = choose_activation_scale(low, high);
    }
  }
  for (std::size_t i = 0; i < m; ++i) {
    fast::quantize_7bit(x + i * k, k, s.scales[i].inverse, static_cast<float>(s.scales[i].zero_point),
                        s.activations.data() + i * k);
  }

  omp_set_num_threads(blas_threads_pay(m, n, k) ? blas_threads() : 1);
  const std::int32_t no_offset = 0;
  const auto dm = static_cast<dnnl_dim_t>(m), dn = static_cast<dnnl_dim_t>(n), dk = static_cast<dnnl_dim_t>(k);
  const dnnl_status_t status = dnnl_gemm_u8s8s32('N', 'T', 'F', dm, dn, dk, 1.0f, s.activations.data(), dk, 0,
                                                 w.values.data(), dk, 0, 0.0f, s.products.data(), dn, &no_offset);
  if (status != dnnl_success) {
    throw Error(fmt::format("int8 product [{}, {}] x [{}, {}]^T: oneDNN's dnnl_gemm_u8s8s32 failed with status {}", m,
                            k, n, k, static_cast<int>(status)));
  }
  for (std::size_t i = 0; i < m; ++i) {
    const ActivationScale a = s.scales[i];
    const std::int32_t* c = s.products.data() + i * n;
    float* out = y + i * n;
    for (std::size_t j = 0; j < n; ++j) {
      const float value = static_cast<float>(c[j] - a.zero_point * w.row_sums[j]) * (a.scale * w.scale(j));
      out[j] = accumulate ? out[j] + value : value;
    }
  }
}

}  // namespace tg
