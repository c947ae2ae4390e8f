#include "tapegrad/ops/activation.hpp"

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
Var relu(const Var& x) {
  kernel::check_defined("relu", {{"x", x}});
  Tensor y = kernel::unary(x.value(), [](const auto& v) {
    using T = typename std::decay_t<decltype(v)>::value_type;
    return xt::where(v < T(0), T(0), v);  // NaN < 0 is false: relu(NaN) = NaN, as PyTorch
  });
  return record("relu", {x}, std::move(y), [](BackwardContext& c) {
    c.grad_input(0) = kernel::binary(c.grad_output(), c.input(0), [](const auto& g, const auto& v) {
      using T = typename std::decay_t<decltype(g)>::value_type;
      return xt::where(v > T(0), g, T(0));
    });
  });
}

}  // namespace tg
