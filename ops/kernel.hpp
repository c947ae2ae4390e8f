#pragma once
/// Helpers shared by the op families: argument checks whose messages name the
/// op, and dtype-dispatched kernels written once over xtensor expressions.

#include <algorithm>
#include <initializer_list>
#include <limits>
#include <type_traits>
#include <utility>
#include <vector>

#include <xtensor/xarray.hpp>
#include <xtensor/xbroadcast.hpp>

#include "tapegrad/autodiff/tape.hpp"

namespace tg::kernel {

/// One Var argument of an op, named as the op's declaration names it.
struct Arg {
  const char* name;
  const Var& var;
};
/// Throws Error unless every Var in `args` is defined, naming the op, the
/// argument and its input number (the first counts from `first`): each op's
/// first check, since an undefined Var has no value to read.
void check_defined(const char* op, std::initializer_list<Arg> args, std::size_t first = 0);
/// The same for a list argument (concat's xs): element i is input i, named `name[i]`.
void check_defined(const char* op, const std::vector<Var>& xs, const char* name);

/// Throws DTypeError unless a and b share a dtype.
void check_same_dtype(const char* op, const Tensor& a, const Tensor& b);
/// NumPy broadcast of two shapes; throws ShapeError naming the op, its scope and both shapes.
Shape broadcast_shapes(const char* op, const Shape& a, const Shape& b);
/// How two shapes broadcast when the smaller operand repeats along rows: one
/// operand has the broadcast shape, [rows, cols] once flattened, and the
/// other (leading 1s aside) is its last dims, [cols], or the same shape.
struct RowBroadcast {
  bool applies = false;
  bool a_full = false, b_full = false;  // which operands have the broadcast shape
  std::size_t rows = 0, cols = 0;
};
RowBroadcast row_broadcast(const Shape& a, const Shape& b);

/// Normalises a possibly negative axis against `rank`; throws naming the op.
std::size_t normalize_axis(const char* op, long axis, std::size_t rank);

/// A double as T, +-inf beyond T's range (where C++ leaves the conversion
/// undefined): a float32 sum in double, or x - m, can pass FLT_MAX.
template <class T>
T narrow(double d) {
  if constexpr (std::is_same_v<T, double>) {
    return d;
  } else {
    constexpr double top = std::numeric_limits<T>::max();
    if (d > top) return std::numeric_limits<T>::infinity();
    if (d < -top) return -std::numeric_limits<T>::infinity();
    return static_cast<T>(d);
  }
}

/// term(0) + ... + term(n - 1) in double: four accumulators keep the adds
/// independent (the CPU overlaps them) and each one's error path a quarter long.
template <class F>
double sum_in_double(std::size_t n, F&& term) {
  double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  std::size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    s0 += term(i);
    s1 += term(i + 1);
    s2 += term(i + 2);
    s3 += term(i + 3);
  }
  for (; i < n; ++i) s0 += term(i);
  return (s0 + s1) + (s2 + s3);
}

/// Where a backward writes the gradient of input i: into the gradient that
/// input has already gathered (a gemm then adds with beta = 1, a kernel with
/// +=), or into a new array that finish() hands to the tape.
template <class T>
class GradTarget {
 public:
  GradTarget(BackwardContext& c, std::size_t i) : gathered_(c.gathered_grad(i)) {
    if (!gathered_) fresh_ = Array<T>::from_shape(c.input(i).shape());
  }
  T* data() { return gathered_ ? gathered_->array<T>().data() : fresh_.data(); }
  bool accumulate() const { return gathered_ != nullptr; }
  // Hands a new array to the tape; `untouched`: nothing was written (zeros).
  void finish(BackwardContext& c, std::size_t i, bool untouched) {
    if (gathered_) return;
    if (untouched) std::fill(fresh_.begin(), fresh_.end(), T(0));
    c.grad_input(i) = Tensor(std::move(fresh_));
  }

 private:
  Tensor* gathered_;
  Array<T> fresh_;
};

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

/// binary() for an `expr` of plain arithmetic, which also applies to scalars:
/// when the operands broadcast along rows (equal shapes, or a bias over rows)
/// it runs one flat loop, which the compiler vectorises; xtensor's
/// broadcasting assignment walks steppers element by element instead.
template <class F>
Tensor arithmetic(const Tensor& a, const Tensor& b, F&& expr) {
  const RowBroadcast rb = row_broadcast(a.shape(), b.shape());
  if (!rb.applies) return binary(a, b, expr);
  return dispatch(a.dtype(), [&](auto zero) -> Tensor {
    using T = decltype(zero);
    Array<T> y = Array<T>::from_shape(rb.a_full ? a.shape() : b.shape());
    const T* pa = a.array<T>().data();
    const T* pb = b.array<T>().data();
    T* py = y.data();
    for (std::size_t r = 0; r < rb.rows; ++r) {
      const T* ar = rb.a_full ? pa + r * rb.cols : pa;
      const T* br = rb.b_full ? pb + r * rb.cols : pb;
      T* yr = py + r * rb.cols;
      for (std::size_t j = 0; j < rb.cols; ++j) yr[j] = expr(ar[j], br[j]);
    }
    return Tensor(std::move(y));
  });
}

}  // namespace tg::kernel
