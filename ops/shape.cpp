#include "tapegrad/ops/shape.hpp"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <utility>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "tapegrad/ops/kernel.hpp"

namespace tg {
namespace {

// Small vectors, as Shape is: the shape ops of a step are many, and heap allocations
// for their strides were a fifth of the tiny step's mallocs.
using Strides = xt::svector<std::ptrdiff_t, 4>;

Strides row_major_strides(const Shape& shape) {
  Strides strides(shape.size());
  std::ptrdiff_t step = 1;
  for (std::size_t d = shape.size(); d-- > 0;) {
    strides[d] = step;
    step *= static_cast<std::ptrdiff_t>(shape[d]);
  }
  return strides;
}

std::size_t element_count(const Shape& shape) {
  return checked_numel(shape, sizeof(double), [] { return op_context("reshape"); });
}

// One loop of a strided copy: n steps, `dst` and `src` elements apart.
struct Level {
  std::size_t n;
  std::ptrdiff_t dst, src;
};

// dst[i . dst_strides] = src[i . src_strides] for every multi-index i of `shape`.
// Size-1 dimensions are dropped and a dimension is merged into the one outside
// it when both sides step over it contiguously, so a concat or a slice of rows
// becomes a few long memcpy runs and a transpose a 2-D tiled loop.
template <class T>
void copy_strided(T* dst, const Strides& dst_strides, const T* src, const Strides& src_strides, const Shape& shape) {
  xt::svector<Level, 8> levels;
  for (std::size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] == 0) return;
    if (shape[d] == 1) continue;
    Level next{shape[d], dst_strides[d], src_strides[d]};
    const auto n = static_cast<std::ptrdiff_t>(next.n);
    if (!levels.empty() && levels.back().dst == next.dst * n && levels.back().src == next.src * n) {
      levels.back() = {levels.back().n * next.n, next.dst, next.src};
    } else {
      levels.push_back(next);
    }
  }
  if (levels.empty()) {
    *dst = *src;
    return;
  }
  const Level inner = levels.back();
  levels.pop_back();

  // A transpose (contiguous writes innermost, contiguous reads at some outer
  // level) goes in square tiles over those two levels, so that each cache
  // line read is used for a whole tile. The odometer below visits the other
  // levels in any order, so the read-contiguous one can be taken out of it.
  Level rows{1, 0, 0};
  const auto contiguous_read = std::find_if(levels.rbegin(), levels.rend(), [](const Level& l) { return l.src == 1; });
  const bool transposed = inner.dst == 1 && inner.src != 1 && inner.src != 0 && contiguous_read != levels.rend();
  if (transposed) {
    rows = *contiguous_read;
    levels.erase(std::next(contiguous_read).base());
  }
  auto body = [&](T* d, const T* s) {
    if (transposed) {
      constexpr std::size_t tile = 16;
      for (std::size_t i0 = 0; i0 < rows.n; i0 += tile) {
        const std::size_t i1 = std::min(rows.n, i0 + tile);
        for (std::size_t j0 = 0; j0 < inner.n; j0 += tile) {
          const std::size_t j1 = std::min(inner.n, j0 + tile);
          for (std::size_t i = i0; i < i1; ++i) {
            T* out = d + static_cast<std::ptrdiff_t>(i) * rows.dst;
            const T* in = s + i;
            for (std::size_t j = j0; j < j1; ++j) out[j] = in[static_cast<std::ptrdiff_t>(j) * inner.src];
          }
        }
      }
    } else if (inner.dst == 1 && inner.src == 1) {
      std::memcpy(d, s, inner.n * sizeof(T));
    } else if (inner.dst == 1 && inner.src == 0) {  // broadcast
      std::fill_n(d, inner.n, *s);
    } else {
      for (std::size_t j = 0; j < inner.n; ++j) {
        d[static_cast<std::ptrdiff_t>(j) * inner.dst] = s[static_cast<std::ptrdiff_t>(j) * inner.src];
      }
    }
  };

  xt::svector<std::size_t, 8> index(levels.size(), 0);
  std::ptrdiff_t dst_offset = 0, src_offset = 0;
  for (;;) {
    body(dst + dst_offset, src + src_offset);
    std::size_t k = levels.size();
    for (;;) {
      if (k == 0) return;
      --k;
      if (++index[k] < levels[k].n) {
        dst_offset += levels[k].dst;
        src_offset += levels[k].src;
        break;
      }
      index[k] = 0;
      const auto back = static_cast<std::ptrdiff_t>(levels[k].n - 1);
      dst_offset -= levels[k].dst * back;
      src_offset -= levels[k].src * back;
    }
  }
}

// A strided window onto a contiguous tensor: element i of `shape` sits at
// offset + i . strides. Strides may be 0 (broadcast) and skip (slice steps).
struct Window {
  Shape shape;
  Strides strides;
  std::ptrdiff_t offset = 0;
};

// A new contiguous tensor with the elements of x's window.
Tensor read_window(const Tensor& x, const Window& w) {
  return dispatch(x.dtype(), [&](auto zero) -> Tensor {
    using T = decltype(zero);
    Array<T> y = Array<T>::from_shape(w.shape);
    if (y.size() > 0) {
      copy_strided(y.data(), row_major_strides(w.shape), x.array<T>().data() + w.offset, w.strides, w.shape);
    }
    return Tensor(std::move(y));
  });
}

// Copies the contiguous tensor `src` (of the window's shape) into dst's window.
void write_window(Tensor& dst, const Window& w, const Tensor& src) {
  dispatch(dst.dtype(), [&](auto zero) {
    using T = decltype(zero);
    if (src.size() == 0) return;
    copy_strided(dst.array<T>().data() + w.offset, w.strides, src.array<T>().data(), row_major_strides(w.shape),
                 w.shape);
  });
}

// Adds the contiguous tensor `src` (of the window's shape) into dst's window:
// the backward of a slice into a gradient that already exists.
void add_window(Tensor& dst, const Window& w, const Tensor& src) {
  dispatch(dst.dtype(), [&](auto zero) {
    using T = decltype(zero);
    if (src.size() == 0) return;
    const std::size_t rank = w.shape.size();
    const std::size_t inner = rank == 0 ? 1 : w.shape[rank - 1];
    const std::ptrdiff_t inner_stride = rank == 0 ? 1 : w.strides[rank - 1];
    const std::size_t outer = src.size() / inner;
    T* d = dst.array<T>().data();
    const T* s = src.array<T>().data();
    xt::svector<std::size_t, 8> index(rank, 0);  // odometer over the outer dims
    std::ptrdiff_t offset = w.offset;
    for (std::size_t row = 0; row < outer; ++row) {
      T* out = d + offset;
      const T* in = s + row * inner;
      if (inner_stride == 1) {
        for (std::size_t j = 0; j < inner; ++j) out[j] += in[j];
      } else {
        for (std::size_t j = 0; j < inner; ++j) out[static_cast<std::ptrdiff_t>(j) * inner_stride] += in[j];
      }
      for (std::size_t k = rank > 0 ? rank - 1 : 0; k-- > 0;) {
        if (++index[k] < w.shape[k]) {
          offset += w.strides[k];
          break;
        }
        index[k] = 0;
        offset -= w.strides[k] * static_cast<std::ptrdiff_t>(w.shape[k] - 1);
      }
    }
  });
}

// The same values laid out as `shape` (same element count).
Tensor reshaped(const Tensor& x, const Shape& shape) {
  return dispatch(x.dtype(), [&](auto zero) -> Tensor {
    using T = decltype(zero);
    Array<T> y = Array<T>::from_shape(shape);
    if (y.size() > 0) std::memcpy(y.data(), x.array<T>().data(), y.size() * sizeof(T));
    return Tensor(std::move(y));
  });
}

// Output dimension d of the result is dimension dims[d] of x's values laid out as
// `view` (x's own shape unless given): one strided copy, the relabelling free.
Tensor permuted(const Tensor& x, const std::vector<std::size_t>& dims, const Shape& view) {
  Strides from = row_major_strides(view);
  Window w{Shape(dims.size()), Strides(dims.size()), 0};
  for (std::size_t d = 0; d < dims.size(); ++d) {
    w.shape[d] = view[dims[d]];
    w.strides[d] = from[dims[d]];
  }
  return read_window(x, w);
}

Tensor permuted(const Tensor& x, const std::vector<std::size_t>& dims) { return permuted(x, dims, x.shape()); }

// The backward of every op that only relabels the shape: dx = dy laid out as x.
void reshape_backward(BackwardContext& c) {
  Tensor dx = c.take_grad_output();  // the same values: relabelled, not copied
  dx.reshape(c.input(0).shape());
  c.grad_input(0) = std::move(dx);
}

// `shape` with a new dimension of size n before dimension `at`. Built by hand:
// GCC 12 warns (-Warray-bounds, falsely) inside svector::insert.
Shape inserted(const Shape& shape, std::size_t at, std::size_t n) {
  Shape out(shape.size() + 1);
  for (std::size_t d = 0; d < out.size(); ++d) out[d] = d < at ? shape[d] : d == at ? n : shape[d - 1];
  return out;
}

// An axis at which a new dimension can go: [-rank - 1, rank].
std::size_t insertion_axis(const char* op, long axis, std::size_t rank) {
  const long r = static_cast<long>(rank);
  if (axis < -r - 1 || axis > r) {
    throw IndexError(
        fmt::format("{}: axis {} is out of range for inserting a dimension into a tensor of rank {} "
                    "(valid: {} to {})",
                    op_context(op), axis, rank, -r - 1, r));
  }
  return static_cast<std::size_t>(axis < 0 ? axis + r + 1 : axis);
}

std::string shapes_str(const std::vector<Var>& xs) {
  std::vector<std::string> shapes;
  for (const Var& x : xs) shapes.push_back(shape_str(x.shape()));
  return fmt::format("{}", fmt::join(shapes, ", "));
}

void check_list(const char* op, const std::vector<Var>& xs) {
  if (xs.empty()) throw Error(fmt::format("{}: needs at least one tensor, got an empty list", op_context(op)));
  kernel::check_defined(op, xs, "xs");
  for (std::size_t i = 1; i < xs.size(); ++i) {
    if (xs[i].dtype() != xs[0].dtype()) {
      throw DTypeError(fmt::format("{}: tensor {} is {} but tensor 0 is {} (shapes {})", op_context(op), i,
                                   dtype_name(xs[i].dtype()), dtype_name(xs[0].dtype()), shapes_str(xs)));
    }
  }
}

// Where each member of a concat or stack lies in the output: the window of
// member i is windows[i] (same shape as the member).
void backward_from_windows(BackwardContext& c, const std::vector<Window>& windows) {
  for (std::size_t i = 0; i < c.num_inputs(); ++i) {
    if (c.needs_grad(i)) c.grad_input(i) = read_window(c.grad_output(), windows[i]);
  }
}

// Python slice bounds: negative counts from the end, then clamped to [0, n].
long clamp_bound(long bound, long n) {
  if (bound < 0) bound += n;
  return std::clamp(bound, 0L, n);
}

}  // namespace

// y = x laid out as `shape`; dx = reshape(dy, x.shape)
Var reshape(const Var& x, const Shape& shape) {
  kernel::check_defined("reshape", {{"x", x}});
  if (element_count(shape) != x.size()) {
    throw ShapeError(fmt::format("{}: cannot reshape {} ({} elements) into {} ({} elements)", op_context("reshape"),
                                 shape_str(x.shape()), x.size(), shape_str(shape), element_count(shape)));
  }
  return record("reshape", {x}, reshaped(x.value(), shape), reshape_backward);
}

Var reshape(const Var& x, const std::vector<long>& shape) {
  kernel::check_defined("reshape", {{"x", x}});
  const std::string requested = fmt::format("[{}]", fmt::join(shape, ", "));
  Shape out(shape.size());
  std::size_t inferred = shape.size();
  for (std::size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] == -1 && inferred == shape.size()) {
      inferred = d;
    } else if (shape[d] < 0) {
      throw ShapeError(fmt::format("{}: cannot reshape {} into {}: sizes must be >= 0, with at most one -1",
                                   op_context("reshape"), shape_str(x.shape()), requested));
    } else {
      out[d] = static_cast<std::size_t>(shape[d]);
    }
  }
  if (inferred < shape.size()) {
    // The product of the other sizes; one past 2^64 leaves no size for the -1 either.
    std::size_t known = 1;
    bool overflow = false;
    for (std::size_t d = 0; d < out.size(); ++d) {
      if (d != inferred) overflow = overflow || __builtin_mul_overflow(known, out[d], &known);
    }
    if (overflow || known == 0 || x.size() % known != 0) {
      throw ShapeError(fmt::format("{}: cannot reshape {} ({} elements) into {}: no size for the -1 fits",
                                   op_context("reshape"), shape_str(x.shape()), x.size(), requested));
    }
    out[inferred] = x.size() / known;
  }
  return reshape(x, out);
}

// y = x with dim0 and dim1 swapped; dx = dy with them swapped back
Var transpose(const Var& x, long dim0, long dim1) {
  kernel::check_defined("transpose", {{"x", x}});
  std::vector<std::size_t> dims(x.dim());
  for (std::size_t d = 0; d < dims.size(); ++d) dims[d] = d;
  std::swap(dims[kernel::normalize_axis("transpose", dim0, x.dim())],
            dims[kernel::normalize_axis("transpose", dim1, x.dim())]);
  return record("transpose", {x}, permuted(x.value(), dims),
                [dims](BackwardContext& c) { c.grad_input(0) = permuted(c.grad_output(), dims); });
}

// dims (negative entries allowed) as a permutation of the dimensions of `shape`
// and its inverse, else ShapeError.
std::pair<std::vector<std::size_t>, std::vector<std::size_t>> permutation_of(const std::vector<long>& dims,
                                                                             const Shape& shape) {
  const std::string requested = fmt::format("[{}]", fmt::join(dims, ", "));
  if (dims.size() != shape.size()) {
    throw ShapeError(fmt::format("{}: dims {} must list each of the {} dimensions of {} once", op_context("permute"),
                                 requested, shape.size(), shape_str(shape)));
  }
  std::vector<std::size_t> forward(dims.size()), inverse(dims.size(), dims.size());
  for (std::size_t d = 0; d < dims.size(); ++d) {
    forward[d] = kernel::normalize_axis("permute", dims[d], shape.size());
    if (inverse[forward[d]] != dims.size()) {
      throw ShapeError(
          fmt::format("{}: dims {} are not a permutation of the {} dimensions of {} (dimension {} "
                      "appears twice)",
                      op_context("permute"), requested, shape.size(), shape_str(shape), forward[d]));
    }
    inverse[forward[d]] = d;
  }
  return {forward, inverse};
}

// y[i_0, ..., i_k] with dimension d of y = dimension dims[d] of x; dx = dy permuted by the inverse of dims
Var permute(const Var& x, const std::vector<long>& dims) {
  kernel::check_defined("permute", {{"x", x}});
  // Named members, not a structured binding: clang 14 cannot capture a binding in a lambda.
  const auto permutation = permutation_of(dims, x.shape());
  const std::vector<std::size_t>& forward = permutation.first;
  const std::vector<std::size_t> inverse = permutation.second;
  return record("permute", {x}, permuted(x.value(), forward),
                [inverse](BackwardContext& c) { c.grad_input(0) = permuted(c.grad_output(), inverse); });
}

// y = reshape(permute(reshape(x, view), dims), shape) in one copy;
// dx = dy read as the permuted view, permuted back by the inverse of dims, laid out as x
Var permute(const Var& x, const Shape& view, const std::vector<long>& dims, const Shape& shape) {
  kernel::check_defined("permute", {{"x", x}});
  if (element_count(view) != x.size() || element_count(shape) != x.size()) {
    throw ShapeError(fmt::format("{}: x {} ({} elements), view {} and shape {} must have as many elements",
                                 op_context("permute"), shape_str(x.shape()), x.size(), shape_str(view),
                                 shape_str(shape)));
  }
  const auto permutation = permutation_of(dims, view);  // not a structured binding, as above
  const std::vector<std::size_t>& forward = permutation.first;
  const std::vector<std::size_t> inverse = permutation.second;
  Shape permuted_view(view.size());
  for (std::size_t d = 0; d < view.size(); ++d) permuted_view[d] = view[forward[d]];
  Tensor y = permuted(x.value(), forward, view);
  y.reshape(shape);
  return record("permute", {x}, std::move(y), [inverse, permuted_view](BackwardContext& c) {
    Tensor dx = permuted(c.grad_output(), inverse, permuted_view);
    dx.reshape(c.input(0).shape());
    c.grad_input(0) = std::move(dx);
  });
}

// y = x without dimension `axis` (of size 1); dx = dy laid out as x
Var squeeze(const Var& x, long axis) {
  kernel::check_defined("squeeze", {{"x", x}});
  const std::size_t ax = kernel::normalize_axis("squeeze", axis, x.dim());
  if (x.shape()[ax] != 1) {
    throw ShapeError(fmt::format("{}: dimension {} of {} has size {}, not 1", op_context("squeeze"), ax,
                                 shape_str(x.shape()), x.shape()[ax]));
  }
  Shape shape = x.shape();
  shape.erase(shape.begin() + static_cast<std::ptrdiff_t>(ax));
  return record("squeeze", {x}, reshaped(x.value(), shape), reshape_backward);
}

// y = x without its size-1 dimensions; dx = dy laid out as x
Var squeeze(const Var& x) {
  kernel::check_defined("squeeze", {{"x", x}});
  Shape shape;
  for (std::size_t s : x.shape())
    if (s != 1) shape.push_back(s);
  return record("squeeze", {x}, reshaped(x.value(), shape), reshape_backward);
}

// y = x with a new dimension of size 1 at `axis`; dx = dy laid out as x
Var unsqueeze(const Var& x, long axis) {
  kernel::check_defined("unsqueeze", {{"x", x}});
  const std::size_t ax = insertion_axis("unsqueeze", axis, x.dim());
  const Shape shape = inserted(x.shape(), ax, 1);
  return record("unsqueeze", {x}, reshaped(x.value(), shape), reshape_backward);
}

// y = x repeated to `shape`; dx = dy, summed back to x's shape by the tape
Var broadcast_to(const Var& x, const Shape& shape) {
  kernel::check_defined("broadcast_to", {{"x", x}});
  checked_numel(shape, sizeof(double), [] { return op_context("broadcast_to"); });
  const Shape& from = x.shape();
  const std::size_t lead = shape.size() - std::min(shape.size(), from.size());
  bool fits = from.size() <= shape.size();
  Strides strides = row_major_strides(from);
  Window w{shape, Strides(shape.size(), 0), 0};
  for (std::size_t d = lead; fits && d < shape.size(); ++d) {
    const std::size_t s = from[d - lead];
    fits = s == shape[d] || s == 1;
    w.strides[d] = s == 1 ? 0 : strides[d - lead];
  }
  if (!fits) {
    throw ShapeError(
        fmt::format("{}: cannot broadcast {} to {} (each dimension of x, aligned from the right, must "
                    "equal the target's or be 1)",
                    op_context("broadcast_to"), shape_str(from), shape_str(shape)));
  }
  return record("broadcast_to", {x}, read_window(x.value(), w), [](BackwardContext& c) {
    // An empty dy sums to zeros; made here because xtensor's sum over an
    // empty array offsets a null pointer (UBSan flags it in sum_to_shape).
    if (c.grad_output().size() == 0) {
      c.grad_input(0) = Tensor::zeros(c.input(0).shape(), c.input(0).dtype());
    } else {
      c.grad_input(0) = c.grad_output();
    }
  });
}

// y = [x_0, x_1, ...] along axis; dx_i = the slice of dy where x_i went
Var concat(const std::vector<Var>& xs, long axis) {
  check_list("concat", xs);
  if (xs[0].dim() == 0) {
    throw ShapeError(fmt::format("{}: cannot concatenate rank-0 tensors (shapes {}); stack them instead",
                                 op_context("concat"), shapes_str(xs)));
  }
  const std::size_t ax = kernel::normalize_axis("concat", axis, xs[0].dim());
  Shape shape = xs[0].shape();
  shape[ax] = 0;
  for (std::size_t i = 0; i < xs.size(); ++i) {
    const Shape& s = xs[i].shape();
    bool fits = s.size() == shape.size();
    for (std::size_t d = 0; fits && d < s.size(); ++d) fits = d == ax || s[d] == shape[d];
    if (!fits) {
      throw ShapeError(
          fmt::format("{}: shapes {} do not concatenate along axis {}: tensor {} differs from tensor 0 "
                      "outside that axis",
                      op_context("concat"), shapes_str(xs), axis, i));
    }
    if (__builtin_add_overflow(shape[ax], s[ax], &shape[ax])) {
      throw ShapeError(
          fmt::format("{}: shapes {} sum past 2^64 - 1 along axis {}", op_context("concat"), shapes_str(xs), axis));
    }
  }
  checked_numel(shape, sizeof(double), [] { return op_context("concat"); });
  Tensor y = Tensor::empty(shape, xs[0].dtype());
  const Strides strides = row_major_strides(shape);
  std::vector<Window> windows;
  std::ptrdiff_t offset = 0;
  for (const Var& x : xs) {
    windows.push_back({x.shape(), strides, offset * strides[ax]});
    write_window(y, windows.back(), x.value());
    offset += static_cast<std::ptrdiff_t>(x.shape()[ax]);
  }
  return record("concat", std::span<const Var>(xs), std::move(y),
                [windows = std::move(windows)](BackwardContext& c) { backward_from_windows(c, windows); });
}

// y[..., i, ...] = x_i with i at axis; dx_i = dy[..., i, ...]
Var stack(const std::vector<Var>& xs, long axis) {
  check_list("stack", xs);
  for (std::size_t i = 1; i < xs.size(); ++i) {
    if (xs[i].shape() != xs[0].shape()) {
      throw ShapeError(fmt::format("{}: all tensors must have one shape, got {} (tensor {} differs from tensor 0)",
                                   op_context("stack"), shapes_str(xs), i));
    }
  }
  const std::size_t ax = insertion_axis("stack", axis, xs[0].dim());
  const Shape shape = inserted(xs[0].shape(), ax, xs.size());
  checked_numel(shape, sizeof(double), [] { return op_context("stack"); });
  Tensor y = Tensor::empty(shape, xs[0].dtype());
  Strides member_strides = row_major_strides(shape);
  const std::ptrdiff_t step = member_strides[ax];
  member_strides.erase(member_strides.begin() + static_cast<std::ptrdiff_t>(ax));
  std::vector<Window> windows;
  for (std::size_t i = 0; i < xs.size(); ++i) {
    windows.push_back({xs[i].shape(), member_strides, static_cast<std::ptrdiff_t>(i) * step});
    write_window(y, windows.back(), xs[i].value());
  }
  return record("stack", std::span<const Var>(xs), std::move(y),
                [windows = std::move(windows)](BackwardContext& c) { backward_from_windows(c, windows); });
}

// y = x[start:end:step] along axis; dx = zeros with dy written back at those positions
Var slice(const Var& x, long axis, long start, long end, long step) {
  kernel::check_defined("slice", {{"x", x}});
  if (step < 1) {
    throw Error(fmt::format("{}: step must be >= 1, got {} (slicing {} along axis {})", op_context("slice"), step,
                            shape_str(x.shape()), axis));
  }
  const std::size_t ax = kernel::normalize_axis("slice", axis, x.dim());
  const long n = static_cast<long>(x.shape()[ax]);
  const long first = clamp_bound(start, n), last = clamp_bound(end, n);
  // Not (last - first + step - 1) / step, which overflows for a step near LONG_MAX.
  const long count = last > first ? (last - first - 1) / step + 1 : 0;
  Window w{x.shape(), row_major_strides(x.shape()), 0};
  w.offset = first * w.strides[ax];
  w.shape[ax] = static_cast<std::size_t>(count);
  // One element takes no step, and a step larger than the dimension would overflow the stride.
  if (count > 1) w.strides[ax] *= step;
  return record("slice", {x}, read_window(x.value(), w), [w](BackwardContext& c) {
    // Slicing every step of a sequence would otherwise cost a zero tensor of
    // the whole sequence per step: later steps add into the gathered gradient.
    if (Tensor* gathered = c.gathered_grad(0)) {
      add_window(*gathered, w, c.grad_output());
      return;
    }
    Tensor dx = Tensor::zeros(c.input(0).shape(), c.input(0).dtype());
    write_window(dx, w, c.grad_output());
    c.grad_input(0) = std::move(dx);
  });
}

std::vector<Var> split(const Var& x, const std::vector<std::size_t>& sizes, long axis) {
  kernel::check_defined("split", {{"x", x}});
  const std::size_t ax = kernel::normalize_axis("split", axis, x.dim());
  std::size_t total = 0;
  bool overflow = false;
  for (std::size_t s : sizes) overflow = overflow || __builtin_add_overflow(total, s, &total);
  if (overflow || total != x.shape()[ax]) {
    throw ShapeError(fmt::format("{}: sizes [{}] sum to {} but dimension {} of {} has size {}", op_context("split"),
                                 fmt::join(sizes, ", "), overflow ? "more than 2^64 - 1" : std::to_string(total), axis,
                                 shape_str(x.shape()), x.shape()[ax]));
  }
  std::vector<Var> pieces;
  long offset = 0;
  for (std::size_t s : sizes) {
    const long next = offset + static_cast<long>(s);
    pieces.push_back(slice(x, static_cast<long>(ax), offset, next));
    offset = next;
  }
  return pieces;
}

std::vector<Var> chunk(const Var& x, std::size_t chunks, long axis) {
  kernel::check_defined("chunk", {{"x", x}});
  // Past 2^63 - 1 it is a negative number converted to size_t, not a count.
  if (chunks == 0 || chunks > static_cast<std::size_t>(PTRDIFF_MAX)) {
    throw Error(fmt::format("{}: chunks must be in [1, 2^63 - 1], got {} (shape {})", op_context("chunk"), chunks,
                            shape_str(x.shape())));
  }
  const std::size_t ax = kernel::normalize_axis("chunk", axis, x.dim());
  const std::size_t n = x.shape()[ax];
  if (n == 0) {
    // Every piece is a Var: their number must not come from a typo alone.
    if (chunks > max_empty_chunks) {
      throw Error(fmt::format("{}: chunks {} would make that many empty pieces of dimension {} of {} (at most {})",
                              op_context("chunk"), chunks, ax, shape_str(x.shape()), max_empty_chunks));
    }
    return split(x, std::vector<std::size_t>(chunks, 0), axis);
  }
  // ceil(n / chunks) without n + chunks - 1, which can wrap.
  const std::size_t size = n / chunks + (n % chunks != 0 ? 1 : 0);
  std::vector<std::size_t> sizes(n / size, size);
  if (n % size != 0) sizes.push_back(n % size);
  return split(x, sizes, axis);
}

}  // namespace tg
