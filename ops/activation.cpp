#include "tapegrad/ops/activation.hpp"

#include <cmath>

#include <xtensor/xmath.hpp>

#include "tapegrad/kernels/fast_math.hpp"
#include "tapegrad/ops/kernel.hpp"

namespace tg {

// y = tanh(x); dx = dy * (1 - y^2)
Var tanh(const Var& x) {
  kernel::check_defined("tanh", {{"x", x}});
  Tensor y = dispatch(x.dtype(), [&](auto zero) -> Tensor {
    using T = decltype(zero);
    const Array<T>& in = x.value().array<T>();
    Array<T> out = Array<T>::from_shape(in.shape());
    fast::tanh(in.data(), out.data(), in.size());  // vectorised for float (fast_math.hpp)
    return Tensor(std::move(out));
  });
  return record("tanh", {x}, std::move(y), [](BackwardContext& c) {
    c.grad_input(0) = kernel::binary(c.grad_output(), c.output(), [](const auto& g, const auto& out) {
      using T = typename std::decay_t<decltype(g)>::value_type;
      return g * (T(1) - out * out);
    });
  });
}

// y = 1 / (1 + exp(-x)); dx = dy * y * (1 - y)
Var sigmoid(const Var& x) {
  kernel::check_defined("sigmoid", {{"x", x}});
  Tensor y = kernel::unary(x.value(), [](const auto& v) {
    using T = typename std::decay_t<decltype(v)>::value_type;
    return T(1) / (T(1) + xt::exp(-v));
  });
  return record("sigmoid", {x}, std::move(y), [](BackwardContext& c) {
    c.grad_input(0) = kernel::binary(c.grad_output(), c.output(), [](const auto& g, const auto& out) {
      using T = typename std::decay_t<decltype(g)>::value_type;
      return g * out * (T(1) - out);
    });
  });
}

// y = max(x, 0); dx = dy where x > 0
// Plain loops over the contiguous data: xtensor's where over an xarray does not
// vectorise, and relu over the feed-forward activations is a large share of a
// Transformer step (docs/performance.md).
Var relu(const Var& x) {
  kernel::check_defined("relu", {{"x", x}});
  Tensor y = dispatch(x.dtype(), [&](auto zero) -> Tensor {
    using T = decltype(zero);
    const Array<T>& in = x.value().array<T>();
    Array<T> out = Array<T>::from_shape(in.shape());
    const T* v = in.data();
    T* o = out.data();
    // NaN < 0 is false: relu(NaN) = NaN, as PyTorch
    for (std::size_t i = 0, n = in.size(); i < n; ++i) o[i] = v[i] < T(0) ? T(0) : v[i];
    return Tensor(std::move(out));
  });
  return record("relu", {x}, std::move(y), [](BackwardContext& c) {
    c.grad_input(0) = dispatch(c.output().dtype(), [&](auto zero) -> Tensor {
      using T = decltype(zero);
      const Array<T>& dy = c.grad_output().array<T>();
      Array<T> dx = Array<T>::from_shape(dy.shape());
      const T* g = dy.data();
      const T* v = c.input(0).array<T>().data();
      T* d = dx.data();
      // g[i] read unconditionally, so that the loop becomes a blend rather than a branch
      for (std::size_t i = 0, n = dy.size(); i < n; ++i) {
        const T gi = g[i];
        d[i] = v[i] > T(0) ? gi : T(0);
      }
      return Tensor(std::move(dx));
    });
  });
}

namespace {

// sqrt(2 / pi) and the cubic coefficient of gelu's tanh form (Hendrycks & Gimpel, torch's constants).
constexpr double gelu_tanh_scale = 0.7978845608028654;
constexpr double gelu_tanh_cubic = 0.044715;
constexpr double inv_sqrt_2pi = 0.3989422804014327;

// gelu(x) and its derivative at x, in T's precision. Phi(x) = erfc(-x / sqrt(2)) / 2 rather than
// (1 + erf(x / sqrt(2))) / 2: the same value without the cancellation for negative x.
template <class T>
T gelu_value(T x, bool exact) {
  if (exact) return T(0.5) * x * std::erfc(-x * T(M_SQRT1_2));
  return T(0.5) * x * (T(1) + std::tanh(T(gelu_tanh_scale) * (x + T(gelu_tanh_cubic) * x * x * x)));
}

template <class T>
T gelu_slope(T x, bool exact) {
  if (exact) return T(0.5) * std::erfc(-x * T(M_SQRT1_2)) + x * T(inv_sqrt_2pi) * std::exp(T(-0.5) * x * x);
  const T t = std::tanh(T(gelu_tanh_scale) * (x + T(gelu_tanh_cubic) * x * x * x));
  return T(0.5) * (T(1) + t) +
         T(0.5) * x * (T(1) - t * t) * T(gelu_tanh_scale) * (T(1) + T(3 * gelu_tanh_cubic) * x * x);
}

}  // namespace

// exact: y = x Phi(x), Phi(x) = (1 + erf(x / sqrt(2))) / 2;  dx = dy (Phi(x) + x phi(x)),
//        phi(x) = exp(-x^2 / 2) / sqrt(2 pi)
// tanh:  y = x (1 + t) / 2, t = tanh(u), u = sqrt(2 / pi) (x + c x^3);
//        dx = dy ((1 + t) / 2 + x (1 - t^2) sqrt(2 / pi) (1 + 3 c x^2) / 2)
Var gelu(const Var& x, GeluApproximation approximate) {
  kernel::check_defined("gelu", {{"x", x}});
  const bool exact = approximate == GeluApproximation::none;
  Tensor y = dispatch(x.dtype(), [&](auto zero) -> Tensor {
    using T = decltype(zero);
    const Array<T>& in = x.value().array<T>();
    Array<T> out = Array<T>::from_shape(in.shape());
    for (std::size_t i = 0; i < in.size(); ++i) out.data()[i] = gelu_value(in.data()[i], exact);
    return Tensor(std::move(out));
  });
  return record("gelu", {x}, std::move(y), [exact](BackwardContext& c) {
    c.grad_input(0) = dispatch(c.input(0).dtype(), [&](auto zero) -> Tensor {
      using T = decltype(zero);
      const Array<T>& in = c.input(0).array<T>();
      const T* dy = c.grad_output().array<T>().data();
      Array<T> dx = Array<T>::from_shape(in.shape());
      for (std::size_t i = 0; i < in.size(); ++i) dx.data()[i] = dy[i] * gelu_slope(in.data()[i], exact);
      return Tensor(std::move(dx));
    });
  });
}

}  // namespace tg
