#include "tapegrad/ops/reduce.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <type_traits>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "tapegrad/ops/kernel.hpp"

namespace tg {
namespace {

// A reduction walked in memory order as runs. Size-1 dims are dropped and
// neighbouring dims of the same kind (reduced or kept) merged; a run is the
// innermost merged dim: n contiguous input elements that map either all to one
// output element (inner_reduced) or to n contiguous output elements. Outputs
// are laid out as the input without its reduced dims, so keepdims changes
// only the result's shape, never the loops.
struct Plan {
  Shape out_shape;
  std::size_t in_size = 1;
  std::size_t out_size = 1;
  std::size_t slice = 1;  // input elements per output element
  Shape dims;             // merged dims, outermost first
  Shape out_strides;      // output stride of each merged dim; 0 where reduced
  bool inner_reduced = false;

  // f(in_offset, out_offset, n) once per run.
  template <class F>
  void each_run(F&& f) const {
    if (in_size == 0) return;
    const std::size_t k = dims.size(), n = dims.back();
    Shape index(k, 0);
    std::size_t out = 0;
    for (std::size_t in = 0; in < in_size; in += n) {
      f(in, out, n);
      for (std::size_t d = k - 1; d-- > 0;) {
        if (++index[d] < dims[d]) {
          out += out_strides[d];
          break;
        }
        index[d] = 0;
        out -= out_strides[d] * (dims[d] - 1);
      }
    }
  }
};

Plan make_plan(const char* op, const Shape& shape, const std::vector<long>& axes, bool keepdims) {
  const std::size_t rank = shape.size();
  std::vector<char> reduced(rank, 0);
  for (long axis : axes) {
    std::size_t d = kernel::normalize_axis(op, axis, rank);
    if (reduced[d]) {
      throw Error(fmt::format("{}: axes [{}] name dimension {} twice (tensor of shape {})", op_context(op),
                              fmt::join(axes, ", "), d, shape_str(shape)));
    }
    reduced[d] = 1;
  }
  Plan p;
  std::vector<char> kinds;
  for (std::size_t d = 0; d < rank; ++d) {
    p.in_size *= shape[d];
    if (reduced[d]) {
      p.slice *= shape[d];
      if (keepdims) p.out_shape.push_back(1);
    } else {
      p.out_size *= shape[d];
      p.out_shape.push_back(shape[d]);
    }
    if (shape[d] == 1) continue;
    if (!kinds.empty() && kinds.back() == reduced[d]) {
      p.dims.back() *= shape[d];
    } else {
      p.dims.push_back(shape[d]);
      kinds.push_back(reduced[d]);
    }
  }
  // An input with a zero-size dimension can reduce to a shape too large to exist.
  checked_numel(p.out_shape, sizeof(double), [&] { return op_context(op); });
  if (p.dims.empty()) {
    p.dims.push_back(1);
    kinds.push_back(0);
  }
  p.out_strides.resize(p.dims.size());
  std::size_t stride = 1;
  for (std::size_t i = p.dims.size(); i-- > 0;) {
    p.out_strides[i] = kinds[i] ? 0 : stride;
    if (!kinds[i]) stride *= p.dims[i];
  }
  p.inner_reduced = kinds.back() != 0;
  return p;
}

// Every axis of x, which the op `op` reduces.
std::vector<long> all_axes(const char* op, const Var& x) {
  kernel::check_defined(op, {{"x", x}});
  std::vector<long> axes(x.dim());
  std::iota(axes.begin(), axes.end(), 0L);
  return axes;
}

// mean and max have no value for a slice without elements.
void check_nonempty_slices(const char* op, const Var& x, const std::vector<long>& axes, const Plan& p) {
  if (p.slice == 0 && p.out_size > 0) {
    throw ShapeError(
        fmt::format("{}: reducing axes [{}] of a tensor of shape {} leaves slices with no elements, "
                    "whose {} is undefined",
                    op_context(op), fmt::join(axes, ", "), shape_str(x.shape()), op));
  }
}

// scale * sum of each slice, accumulated in double (in the result itself for float64).
template <class T>
Array<T> sum_forward(const Array<T>& x, const Plan& p, double scale) {
  Array<T> y = Array<T>::from_shape(p.out_shape);
  auto accumulate = [&](double* acc) {
    std::fill(acc, acc + p.out_size, 0.0);
    const T* in = x.data();
    p.each_run([&](std::size_t i, std::size_t o, std::size_t n) {
      if (p.inner_reduced) {
        acc[o] += kernel::sum_in_double(n, [&](std::size_t k) { return in[i + k]; });
      } else {
        for (std::size_t j = 0; j < n; ++j) acc[o + j] += in[i + j];
      }
    });
    for (std::size_t o = 0; o < p.out_size; ++o) y.data()[o] = kernel::narrow<T>(acc[o] * scale);
  };
  if constexpr (std::is_same_v<T, double>) {
    accumulate(y.data());
  } else {
    Array<double> acc = Array<double>::from_shape({p.out_size});
    accumulate(acc.data());
  }
  return y;
}

// dx = scale * dy, broadcast back over the reduced dims.
template <class T>
Array<T> broadcast_back(const Array<T>& dy, const Shape& in_shape, const Plan& p, double scale) {
  Array<T> dx = Array<T>::from_shape(in_shape);
  const T* g = dy.data();
  T* out = dx.data();
  const T s = static_cast<T>(scale);
  p.each_run([&](std::size_t i, std::size_t o, std::size_t n) {
    if (p.inner_reduced) {
      std::fill(out + i, out + i + n, g[o] * s);
    } else {
      for (std::size_t j = 0; j < n; ++j) out[i + j] = g[o + j] * s;
    }
  });
  return dx;
}

// The larger of m and v; a NaN wins, so max propagates NaN as torch.amax does.
template <class T>
T max_of(T m, T v) {
  return (v > m || std::isnan(v)) ? v : m;
}

// The maximum of `init` and n contiguous values (NaN if any is NaN). Eight
// running maxima keep the compares independent and vectorisable.
template <class T>
T max_run(const T* p, std::size_t n, T init) {
  T r[8] = {init, init, init, init, init, init, init, init};
  bool nan = std::isnan(init);
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    for (std::size_t l = 0; l < 8; ++l) {
      const T v = p[i + l];
      r[l] = v > r[l] ? v : r[l];
      nan |= v != v;
    }
  }
  for (; i < n; ++i) {
    r[0] = p[i] > r[0] ? p[i] : r[0];
    nan |= p[i] != p[i];
  }
  if (nan) return std::numeric_limits<T>::quiet_NaN();
  return std::max({r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7]});
}

// The maximum of each slice; -inf for a slice without elements.
template <class T>
Array<T> max_forward(const Array<T>& x, const Plan& p) {
  Array<T> y = Array<T>::from_shape(p.out_shape);
  T* m = y.data();
  const T* in = x.data();
  std::fill(m, m + p.out_size, -std::numeric_limits<T>::infinity());
  p.each_run([&](std::size_t i, std::size_t o, std::size_t n) {
    if (p.inner_reduced) {
      m[o] = max_run(in + i, n, m[o]);
    } else {
      for (std::size_t j = 0; j < n; ++j) m[o + j] = max_of(m[o + j], in[i + j]);
    }
  });
  return y;
}

// dx = dy / ties where x equals its slice's maximum, else 0.
template <class T>
Array<T> max_backward(const Array<T>& x, const Array<T>& y, const Array<T>& dy, const Plan& p) {
  const T* in = x.data();
  const T* m = y.data();
  Array<double> share = Array<double>::from_shape({p.out_size});
  double* s = share.data();
  std::fill(s, s + p.out_size, 0.0);
  p.each_run([&](std::size_t i, std::size_t o, std::size_t n) {
    if (p.inner_reduced) {
      std::size_t ties = 0;
      for (std::size_t j = 0; j < n; ++j) ties += in[i + j] == m[o];
      s[o] += static_cast<double>(ties);
    } else {
      for (std::size_t j = 0; j < n; ++j) s[o + j] += in[i + j] == m[o + j];
    }
  });
  // A NaN maximum equals no element: nothing receives its gradient.
  for (std::size_t o = 0; o < p.out_size; ++o) s[o] = s[o] > 0 ? dy.data()[o] / s[o] : 0.0;
  Array<T> dx = Array<T>::from_shape(x.shape());
  T* out = dx.data();
  p.each_run([&](std::size_t i, std::size_t o, std::size_t n) {
    if (p.inner_reduced) {
      for (std::size_t j = 0; j < n; ++j) out[i + j] = in[i + j] == m[o] ? static_cast<T>(s[o]) : T(0);
    } else {
      for (std::size_t j = 0; j < n; ++j) out[i + j] = in[i + j] == m[o + j] ? static_cast<T>(s[o + j]) : T(0);
    }
  });
  return dx;
}

// What logsumexp keeps per slice, in double: y = shift + log_sum, with
// log_sum = log(sum(exp(x - shift))). The backward forms exp(x - y) as
// exp((x - shift) - log_sum): at |y| = 1e38 a rounded y has lost log 2
// entirely, and a float32 y at 1e4 is only good to 1e-3.
struct LogSumExp {
  Array<double> shift, log_sum;
};

// shift is the slice's maximum, or 0 where that is infinite (-inf - -inf is
// NaN): all -inf then gives log(0) = -inf and a +inf entry gives +inf. Each
// exp runs in T (expf is twice as fast as exp) on an argument shifted in
// double; the sum is double.
template <class T>
LogSumExp logsumexp_forward(const Array<T>& x, const Plan& p) {
  Array<T> m = max_forward(x, p);
  LogSumExp r{Array<double>::from_shape({p.out_size}), Array<double>::from_shape({p.out_size})};
  double* shift = r.shift.data();
  double* s = r.log_sum.data();
  for (std::size_t o = 0; o < p.out_size; ++o) {
    shift[o] = std::isinf(m.data()[o]) ? 0.0 : static_cast<double>(m.data()[o]);
    s[o] = 0;
  }
  const T* in = x.data();
  p.each_run([&](std::size_t i, std::size_t o, std::size_t n) {
    if (p.inner_reduced) {
      double t = 0;
      for (std::size_t j = 0; j < n; ++j) t += std::exp(kernel::narrow<T>(in[i + j] - shift[o]));
      s[o] += t;
    } else {
      for (std::size_t j = 0; j < n; ++j) s[o + j] += std::exp(kernel::narrow<T>(in[i + j] - shift[o + j]));
    }
  });
  for (std::size_t o = 0; o < p.out_size; ++o) s[o] = std::log(s[o]);
  return r;
}

// dx = dy * exp(x - y); 0 where y = -inf (the slice is all -inf: constant).
template <class T>
Array<T> logsumexp_backward(const Array<T>& x, const LogSumExp& saved, const Array<T>& dy, const Plan& p) {
  const T* in = x.data();
  const double* shift = saved.shift.data();
  const double* log_sum = saved.log_sum.data();
  const T* g = dy.data();
  Array<T> dx = Array<T>::from_shape(x.shape());
  T* out = dx.data();
  auto grad = [&](std::size_t i, std::size_t o) {
    if (log_sum[o] == -std::numeric_limits<double>::infinity()) return T(0);
    return g[o] * std::exp(kernel::narrow<T>((in[i] - shift[o]) - log_sum[o]));
  };
  p.each_run([&](std::size_t i, std::size_t o, std::size_t n) {
    if (p.inner_reduced) {
      for (std::size_t j = 0; j < n; ++j) out[i + j] = grad(i + j, o);
    } else {
      for (std::size_t j = 0; j < n; ++j) out[i + j] = grad(i + j, o + j);
    }
  });
  return dx;
}

}  // namespace

// y = sum(x) over axes; dx = broadcast(dy)
Var sum(const Var& x, const std::vector<long>& axes, bool keepdims) {
  kernel::check_defined("sum", {{"x", x}});
  Plan p = make_plan("sum", x.shape(), axes, keepdims);
  Tensor y = dispatch(x.dtype(), [&](auto zero) -> Tensor {
    using T = decltype(zero);
    return Tensor(sum_forward(x.value().array<T>(), p, 1.0));
  });
  return record("sum", {x}, std::move(y), [p](BackwardContext& c) {
    c.grad_input(0) = dispatch(c.input(0).dtype(), [&](auto zero) -> Tensor {
      using T = decltype(zero);
      return Tensor(broadcast_back(c.grad_output().array<T>(), c.input(0).shape(), p, 1.0));
    });
  });
}

// y = sum(x) / n over axes, n elements per slice; dx = broadcast(dy) / n
Var mean(const Var& x, const std::vector<long>& axes, bool keepdims) {
  kernel::check_defined("mean", {{"x", x}});
  Plan p = make_plan("mean", x.shape(), axes, keepdims);
  check_nonempty_slices("mean", x, axes, p);
  const double scale = p.slice == 0 ? 0.0 : 1.0 / static_cast<double>(p.slice);
  Tensor y = dispatch(x.dtype(), [&](auto zero) -> Tensor {
    using T = decltype(zero);
    return Tensor(sum_forward(x.value().array<T>(), p, scale));
  });
  return record("mean", {x}, std::move(y), [p, scale](BackwardContext& c) {
    c.grad_input(0) = dispatch(c.input(0).dtype(), [&](auto zero) -> Tensor {
      using T = decltype(zero);
      return Tensor(broadcast_back(c.grad_output().array<T>(), c.input(0).shape(), p, scale));
    });
  });
}

// y = max(x) over axes; dx = dy / ties where x == y, else 0
Var max(const Var& x, const std::vector<long>& axes, bool keepdims) {
  kernel::check_defined("max", {{"x", x}});
  Plan p = make_plan("max", x.shape(), axes, keepdims);
  check_nonempty_slices("max", x, axes, p);
  Tensor y = dispatch(x.dtype(), [&](auto zero) -> Tensor {
    using T = decltype(zero);
    return Tensor(max_forward(x.value().array<T>(), p));
  });
  return record("max", {x}, std::move(y), [p](BackwardContext& c) {
    c.grad_input(0) = dispatch(c.input(0).dtype(), [&](auto zero) -> Tensor {
      using T = decltype(zero);
      return Tensor(max_backward(c.input(0).array<T>(), c.output().array<T>(), c.grad_output().array<T>(), p));
    });
  });
}

// y = log(sum(exp(x))) over axes; dx = dy * exp(x - y)
Var logsumexp(const Var& x, const std::vector<long>& axes, bool keepdims) {
  kernel::check_defined("logsumexp", {{"x", x}});
  Plan p = make_plan("logsumexp", x.shape(), axes, keepdims);
  LogSumExp saved = dispatch(x.dtype(), [&](auto zero) {
    using T = decltype(zero);
    return logsumexp_forward(x.value().array<T>(), p);
  });
  Tensor y = dispatch(x.dtype(), [&](auto zero) -> Tensor {
    using T = decltype(zero);
    Array<T> values = Array<T>::from_shape(p.out_shape);
    for (std::size_t o = 0; o < p.out_size; ++o)
      values.data()[o] = kernel::narrow<T>(saved.shift[o] + saved.log_sum[o]);
    return Tensor(std::move(values));
  });
  return record("logsumexp", {x}, std::move(y), [p, saved = std::move(saved)](BackwardContext& c) {
    c.grad_input(0) = dispatch(c.input(0).dtype(), [&](auto zero) -> Tensor {
      using T = decltype(zero);
      return Tensor(logsumexp_backward(c.input(0).array<T>(), saved, c.grad_output().array<T>(), p));
    });
  });
}

// The other overloads name their axes and call the ones above.
Var sum(const Var& x) { return sum(x, all_axes("sum", x)); }
Var sum(const Var& x, std::initializer_list<long> axes, bool keepdims) {
  return sum(x, std::vector<long>(axes), keepdims);
}
Var sum(const Var& x, long axis, bool keepdims) { return sum(x, std::vector<long>{axis}, keepdims); }

Var mean(const Var& x) { return mean(x, all_axes("mean", x)); }
Var mean(const Var& x, std::initializer_list<long> axes, bool keepdims) {
  return mean(x, std::vector<long>(axes), keepdims);
}
Var mean(const Var& x, long axis, bool keepdims) { return mean(x, std::vector<long>{axis}, keepdims); }

Var max(const Var& x) { return max(x, all_axes("max", x)); }
Var max(const Var& x, std::initializer_list<long> axes, bool keepdims) {
  return max(x, std::vector<long>(axes), keepdims);
}
Var max(const Var& x, long axis, bool keepdims) { return max(x, std::vector<long>{axis}, keepdims); }

Var logsumexp(const Var& x) { return logsumexp(x, all_axes("logsumexp", x)); }
Var logsumexp(const Var& x, std::initializer_list<long> axes, bool keepdims) {
  return logsumexp(x, std::vector<long>(axes), keepdims);
}
Var logsumexp(const Var& x, long axis, bool keepdims) { return logsumexp(x, std::vector<long>{axis}, keepdims); }

}  // namespace tg
