#pragma once
/// Helpers shared by the op families: argument checks whose messages name the
/// op, and dtype-dispatched kernels written once over xtensor expressions.

#include <utility>

#include <xtensor/xarray.hpp>
#include <xtensor/xbroadcast.hpp>

#include "../autodiff/tape.hpp"

namespace tg::kernel {

/// Throws DTypeError unless a and b share a dtype.
void check_same_dtype(const char* op, const Tensor& a, const Tensor& b);
/// NumPy broadcast of two shapes; throws ShapeError naming the op, its scope and both shapes.
Shape broadcast_shapes(const char* op, const Shape& a, const Shape& b);
/// Normalises a possibly negative axis against `rank`; throws naming the op.
std::size_t normalize_axis(const char* op, long axis, std::size_t rank);

/// Evaluates `expr(x)` (an xtensor expression over x's array) into a new tensor of x's dtype.
template <class F>
Tensor unary(const Tensor& x, F&& expr) {
  return dispatch(x.dtype(), [&](auto zero) -> Tensor {
    using T = decltype(zero);
    return Tensor(Array<T>(expr(x.array<T>())));
  });
}

/// Evaluates `expr(a, b)` over the arrays of two tensors of the same dtype.
template <class F>
Tensor binary(const Tensor& a, const Tensor& b, F&& expr) {
  return dispatch(a.dtype(), [&](auto zero) -> Tensor {
    using T = decltype(zero);
    return Tensor(Array<T>(expr(a.array<T>(), b.array<T>())));
  });
}

/// Evaluates `expr(a, b, c)` over the arrays of three tensors of the same dtype.
template <class F>
Tensor ternary(const Tensor& a, const Tensor& b, const Tensor& c, F&& expr) {
  return dispatch(a.dtype(), [&](auto zero) -> Tensor {
    using T = decltype(zero);
    return Tensor(Array<T>(expr(a.array<T>(), b.array<T>(), c.array<T>())));
  });
}

}  // namespace tg::kernel
