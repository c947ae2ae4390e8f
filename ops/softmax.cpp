#include "tapegrad/ops/softmax.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>

#include "tapegrad/kernels/fast_math.hpp"
#include "tapegrad/ops/kernel.hpp"

namespace tg {
namespace {

// A tensor seen as [outer, n, inner] around `axis`: each (outer, inner) pair
// is one row of n elements, `inner` apart in memory.
struct Rows {
  std::size_t outer = 1, n = 1, inner = 1;

  Rows(const Shape& shape, std::size_t axis) {
    for (std::size_t d = 0; d < shape.size(); ++d) {
      if (d < axis)
        outer *= shape[d];
      else if (d == axis)
        n = shape[d];
      else
        inner *= shape[d];
    }
  }
  // f(first, stride) once per row.
  template <class F>
  void each(F&& f) const {
    // Rows of no elements need nothing, and there may be 2^62 of them ([0, 2^62] along axis 0).
    if (n == 0) return;
    for (std::size_t o = 0; o < outer; ++o)
      for (std::size_t j = 0; j < inner; ++j) f(o * n * inner + j, inner);
  }
};

template <class T>
constexpr T neg_inf = -std::numeric_limits<T>::infinity();

// One contiguous float row of softmax or log_softmax: e^(x - max) by the
// vectorised exp of fast_math.hpp (masked -inf entries give exactly 0), summed
// in double.
void float_row(const float* in, float* out, std::size_t n, bool log) {
  const float m = fast::max(in, n);
  if (m == neg_inf<float>) {  // fully masked: nothing to normalise
    std::fill(out, out + n, log ? neg_inf<float> : 0.0f);
    return;
  }
  const double s = fast::exp_shifted_sum(in, m, out, n);
  if (log) {
    const float log_s = static_cast<float>(std::log(s));
    for (std::size_t i = 0; i < n; ++i) out[i] = (in[i] - m) - log_s;
  } else {
    const float inv = static_cast<float>(1.0 / s);
    for (std::size_t i = 0; i < n; ++i) out[i] *= inv;
  }
}

// One row of softmax or log_softmax, n values `stride` apart. Sums run in double.
template <class T>
void row_forward(const T* in, T* out, std::size_t n, std::size_t stride, bool log) {
  if constexpr (std::is_same_v<T, float>) {
    if (stride == 1) {  // a contiguous row (the last axis): max and exps vectorised, the sum in double
      float_row(in, out, n, log);
      return;
    }
  }
  const std::size_t end = n * stride;
  T m = neg_inf<T>;
  for (std::size_t i = 0; i < end; i += stride) m = std::max(m, in[i]);
  if (m == neg_inf<T>) {  // fully masked: nothing to normalise
    for (std::size_t i = 0; i < end; i += stride) out[i] = log ? neg_inf<T> : T(0);
    return;
  }
  double s = 0;
  for (std::size_t i = 0; i < end; i += stride) s += std::exp(static_cast<double>(in[i] - m));
  const double log_s = std::log(s);
  for (std::size_t i = 0; i < end; i += stride) {
    double shifted = static_cast<double>(in[i] - m);
    out[i] = static_cast<T>(log ? shifted - log_s : std::exp(shifted) / s);
  }
}

// dx = y * (dy - sum(dy * y)) over one row, n values `stride` apart; where y is 0, dx is 0
// and dy is not read.
template <class T>
void softmax_backward_row(const T* y, const T* dy, T* dx, std::size_t n, std::size_t stride) {
  const std::size_t end = n * stride;
  double dot = 0;
  for (std::size_t i = 0; i < end; i += stride)
    if (y[i] != T(0)) dot += static_cast<double>(dy[i]) * y[i];
  for (std::size_t i = 0; i < end; i += stride) dx[i] = y[i] == T(0) ? T(0) : static_cast<T>(y[i] * (dy[i] - dot));
}

// The forward of both ops; `log` picks log_softmax.
template <class T>
Array<T> softmax_forward(const Array<T>& x, const Rows& rows, bool log) {
  Array<T> y = Array<T>::from_shape(x.shape());
  rows.each([&](std::size_t first, std::size_t stride) {
    row_forward(x.data() + first, y.data() + first, rows.n, stride, log);
  });
  return y;
}

Tensor forward(const Tensor& x, const Rows& rows, bool log) {
  return dispatch(x.dtype(), [&](auto zero) -> Tensor {
    using T = decltype(zero);
    return Tensor(softmax_forward<T>(x.array<T>(), rows, log));
  });
}

}  // namespace

template <class T>
void softmax_row(const T* in, T* out, std::size_t n) {
  row_forward(in, out, n, 1, false);
}
template void softmax_row<float>(const float*, float*, std::size_t);
template void softmax_row<double>(const double*, double*, std::size_t);

template <class T>
void softmax_row_backward(const T* y, const T* dy, T* dx, std::size_t n) {
  softmax_backward_row(y, dy, dx, n, 1);
}
template void softmax_row_backward<float>(const float*, const float*, float*, std::size_t);
template void softmax_row_backward<double>(const double*, const double*, double*, std::size_t);

// y = exp(x - max) / sum(exp(x - max)); dx = y * (dy - sum(dy * y))
// Where y is exactly 0 (masked), dx is 0 and dy is not read: an inf there
// (from log(softmax(x))) must not turn the row into NaN.
Var softmax(const Var& x, long axis) {
  kernel::check_defined("softmax", {{"x", x}});
  Rows rows(x.shape(), kernel::normalize_axis("softmax", axis, x.dim()));
  return record("softmax", {x}, forward(x.value(), rows, false), [rows](BackwardContext& c) {
    c.grad_input(0) = dispatch(c.output().dtype(), [&](auto zero) -> Tensor {
      using T = decltype(zero);
      const T* y = c.output().array<T>().data();
      const T* dy = c.grad_output().array<T>().data();
      Array<T> dx_array = Array<T>::from_shape(c.output().shape());
      T* dx = dx_array.data();
      rows.each([&](std::size_t first, std::size_t stride) {
        softmax_backward_row(y + first, dy + first, dx + first, rows.n, stride);
      });
      return Tensor(std::move(dx_array));
    });
  });
}

// y = x - max - log(sum(exp(x - max))); dx = dy - exp(y) * sum(dy)
// A masked entry (y = -inf) is constant in x: dx is 0 there and its dy stays
// out of the sum.
Var log_softmax(const Var& x, long axis) {
  kernel::check_defined("log_softmax", {{"x", x}});
  Rows rows(x.shape(), kernel::normalize_axis("log_softmax", axis, x.dim()));
  return record("log_softmax", {x}, forward(x.value(), rows, true), [rows](BackwardContext& c) {
    c.grad_input(0) = dispatch(c.output().dtype(), [&](auto zero) -> Tensor {
      using T = decltype(zero);
      const T* y = c.output().array<T>().data();
      const T* dy = c.grad_output().array<T>().data();
      Array<T> dx_array = Array<T>::from_shape(c.output().shape());
      T* dx = dx_array.data();
      rows.each([&](std::size_t first, std::size_t stride) {
        const std::size_t end = first + rows.n * stride;
        double total = 0;
        for (std::size_t i = first; i < end; i += stride)
          if (y[i] != neg_inf<T>) total += dy[i];
        for (std::size_t i = first; i < end; i += stride)
          dx[i] = y[i] == neg_inf<T> ? T(0) : static_cast<T>(dy[i] - std::exp(static_cast<double>(y[i])) * total);
      });
      return Tensor(std::move(dx_array));
    });
  });
}

}  // namespace tg
