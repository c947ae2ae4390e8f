#include "tapegrad/ops/index.hpp"

#include <cmath>
#include <cstring>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <xtensor/xoperation.hpp>

#include "tapegrad/ops/kernel.hpp"

namespace tg {
namespace {

// "[1, 2]": the multi-index of row-major position `flat` in `shape`.
std::string position_str(std::size_t flat, const Shape& shape) {
  std::vector<std::size_t> position(shape.size());
  for (std::size_t d = shape.size(); d-- > 0;) {
    position[d] = flat % shape[d];
    flat /= shape[d];
  }
  return fmt::format("[{}]", fmt::join(position, ", "));
}

// out = broadcast(out, s) by NumPy rules; false if they do not broadcast.
bool broadcast_into(Shape& out, const Shape& s) {
  const std::size_t rank = std::max(out.size(), s.size());
  Shape result(rank);
  for (std::size_t i = 0; i < rank; ++i) {
    const std::size_t a = i < rank - out.size() ? 1 : out[i - (rank - out.size())];
    const std::size_t b = i < rank - s.size() ? 1 : s[i - (rank - s.size())];
    if (a != b && a != 1 && b != 1) return false;
    result[i] = a == 1 ? b : a;
  }
  out = std::move(result);
  return true;
}

// Flat offsets into x of every element that gather picks, in index's order;
// validates every index on the way.
std::vector<std::size_t> gather_offsets(const Shape& x_shape, std::size_t axis, const Indices& index) {
  const std::size_t rank = x_shape.size();
  std::vector<std::size_t> strides(rank, 1);
  for (std::size_t d = rank; d-- > 1;) strides[d - 1] = strides[d] * x_shape[d];
  const auto& shape = index.shape();
  const auto size = static_cast<std::int64_t>(x_shape[axis]);
  std::vector<std::size_t> offsets(index.size());
  std::vector<std::size_t> position(rank, 0);
  std::size_t base = 0;  // offset of `position` with its axis coordinate left out
  for (std::size_t p = 0; p < offsets.size(); ++p) {
    const std::int64_t i = index.data()[p];
    if (i < 0 || i >= size) {
      throw IndexError(fmt::format(
          "{}: index {} at position [{}] is out of range for axis {} of size {} (x has "
          "shape {}, index {})",
          op_context("gather"), i, fmt::join(position, ", "), axis, size, shape_str(x_shape), shape_str(shape)));
    }
    offsets[p] = base + static_cast<std::size_t>(i) * strides[axis];
    for (std::size_t d = rank; d-- > 0;) {
      if (++position[d] < shape[d]) {
        if (d != axis) base += strides[d];
        break;
      }
      if (d != axis) base -= (shape[d] - 1) * strides[d];
      position[d] = 0;
    }
  }
  return offsets;
}

}  // namespace

// y[..., e] = weight[ids[...], e]; dweight[v] = sum of dy[p] over the positions p with ids[p] = v
Var embedding(const Var& weight, const Indices& ids, std::optional<std::int64_t> padding_idx) {
  kernel::check_defined("embedding", {{"weight", weight}});
  if (weight.dim() != 2) {
    throw ShapeError(fmt::format("{}: weight must have shape [V, E], got {} (ids {})", op_context("embedding"),
                                 shape_str(weight.shape()), shape_str(ids.shape())));
  }
  const std::size_t rows = weight.shape()[0], width = weight.shape()[1];
  if (padding_idx && (*padding_idx < 0 || static_cast<std::size_t>(*padding_idx) >= rows)) {
    throw IndexError(fmt::format("{}: padding_idx {} is out of range for V = {} (weight {}; valid: 0 to {})",
                                 op_context("embedding"), *padding_idx, rows, shape_str(weight.shape()),
                                 static_cast<std::int64_t>(rows) - 1));
  }
  std::vector<std::size_t> picked(ids.size());
  for (std::size_t p = 0; p < picked.size(); ++p) {
    const std::int64_t id = ids.data()[p];
    if (id < 0 || static_cast<std::size_t>(id) >= rows) {
      throw IndexError(fmt::format("{}: id {} at position {} of ids {} is out of range for V = {} (weight {})",
                                   op_context("embedding"), id, position_str(p, ids.shape()), shape_str(ids.shape()),
                                   rows, shape_str(weight.shape())));
    }
    picked[p] = static_cast<std::size_t>(id);
  }
  Shape shape(ids.shape().begin(), ids.shape().end());
  shape.push_back(width);
  checked_numel(shape, sizeof(double), [] { return op_context("embedding"); });
  Tensor y = dispatch(weight.dtype(), [&](auto zero) -> Tensor {
    using T = decltype(zero);
    Array<T> out = Array<T>::from_shape(shape);
    if (out.size() == 0) return Tensor(std::move(out));
    const T* w = weight.value().array<T>().data();
    for (std::size_t p = 0; p < picked.size(); ++p)
      std::memcpy(out.data() + p * width, w + picked[p] * width, width * sizeof(T));
    return Tensor(std::move(out));
  });
  // Positions holding padding_idx pass no gradient to that row.
  const std::size_t skip = padding_idx ? static_cast<std::size_t>(*padding_idx) : rows;
  return record("embedding", {weight}, std::move(y), [picked = std::move(picked), skip](BackwardContext& c) {
    c.grad_input(0) = dispatch(c.input(0).dtype(), [&](auto zero) -> Tensor {
      using T = decltype(zero);
      const std::size_t cols = c.input(0).shape()[1];
      Array<T> dw = xt::zeros<T>(c.input(0).shape());
      if (dw.size() == 0) return Tensor(std::move(dw));
      const T* dy = c.grad_output().array<T>().data();
      for (std::size_t p = 0; p < picked.size(); ++p) {
        if (picked[p] == skip) continue;
        T* row = dw.data() + picked[p] * cols;
        const T* g = dy + p * cols;
        for (std::size_t e = 0; e < cols; ++e) row[e] += g[e];
      }
      return Tensor(std::move(dw));
    });
  });
}

// y[i] = x[i with i[axis] = index[i]]; dx = zeros with dy[i] added at each picked element
Var gather(const Var& x, long axis, const Indices& index) {
  kernel::check_defined("gather", {{"x", x}});
  if (index.dimension() != x.dim()) {
    throw ShapeError(fmt::format("{}: index of shape {} must have the rank of x {}", op_context("gather"),
                                 shape_str(index.shape()), shape_str(x.shape())));
  }
  const std::size_t ax = kernel::normalize_axis("gather", axis, x.dim());
  for (std::size_t d = 0; d < x.dim(); ++d) {
    if (d != ax && index.shape()[d] > x.shape()[d]) {
      throw ShapeError(fmt::format("{}: index of shape {} is larger than x {} in dimension {} (only axis {} may be)",
                                   op_context("gather"), shape_str(index.shape()), shape_str(x.shape()), d, ax));
    }
  }
  std::vector<std::size_t> offsets = gather_offsets(x.shape(), ax, index);
  Shape shape(index.shape().begin(), index.shape().end());
  Tensor y = dispatch(x.dtype(), [&](auto zero) -> Tensor {
    using T = decltype(zero);
    Array<T> out = Array<T>::from_shape(shape);
    const T* in = x.value().array<T>().data();
    for (std::size_t p = 0; p < offsets.size(); ++p) out.data()[p] = in[offsets[p]];
    return Tensor(std::move(out));
  });
  return record("gather", {x}, std::move(y), [offsets = std::move(offsets)](BackwardContext& c) {
    c.grad_input(0) = dispatch(c.input(0).dtype(), [&](auto zero) -> Tensor {
      using T = decltype(zero);
      Array<T> dx = xt::zeros<T>(c.input(0).shape());
      const T* dy = c.grad_output().array<T>().data();
      for (std::size_t p = 0; p < offsets.size(); ++p) dx.data()[offsets[p]] += dy[p];
      return Tensor(std::move(dx));
    });
  });
}

// y = mask ? a : b; da = mask ? dy : 0, db = mask ? 0 : dy (summed back to each shape by the tape)
Var where(const Mask& mask, const Var& a, const Var& b) {
  kernel::check_defined("where", {{"a", a}, {"b", b}});
  kernel::check_same_dtype("where", a.value(), b.value());
  Shape shape(mask.shape().begin(), mask.shape().end());
  if (!broadcast_into(shape, a.shape()) || !broadcast_into(shape, b.shape())) {
    throw ShapeError(fmt::format("{}: mask {}, a {} and b {} do not broadcast together", op_context("where"),
                                 shape_str(mask.shape()), shape_str(a.shape()), shape_str(b.shape())));
  }
  checked_numel(shape, sizeof(double), [] { return op_context("where"); });
  Tensor y = kernel::binary(a.value(), b.value(), [&](const auto& x, const auto& z) { return xt::where(mask, x, z); });
  return record("where", {a, b}, std::move(y), [mask](BackwardContext& c) {
    if (c.needs_grad(0)) {
      c.grad_input(0) = kernel::unary(c.grad_output(), [&](const auto& g) {
        using T = typename std::decay_t<decltype(g)>::value_type;
        return xt::where(mask, g, T(0));
      });
    }
    if (c.needs_grad(1)) {
      c.grad_input(1) = kernel::unary(c.grad_output(), [&](const auto& g) {
        using T = typename std::decay_t<decltype(g)>::value_type;
        return xt::where(mask, T(0), g);
      });
    }
  });
}

// y = mask ? value : x; dx = mask ? 0 : dy
Var masked_fill(const Var& x, const Mask& mask, double value) {
  kernel::check_defined("masked_fill", {{"x", x}});
  Shape shape = x.shape();
  if (!broadcast_into(shape, mask.shape()) || shape != x.shape()) {
    throw ShapeError(fmt::format("{}: mask of shape {} does not broadcast to the input's shape {}",
                                 op_context("masked_fill"), shape_str(mask.shape()), shape_str(x.shape())));
  }
  Tensor y = kernel::unary(x.value(), [&](const auto& v) {
    using T = typename std::decay_t<decltype(v)>::value_type;
    return xt::where(mask, T(value), v);
  });
  return record(
      "masked_fill", {x}, std::move(y),
      [mask](BackwardContext& c) {
        c.grad_input(0) = kernel::unary(c.grad_output(), [&](const auto& g) {
          using T = typename std::decay_t<decltype(g)>::value_type;
          return xt::where(mask, T(0), g);
        });
      },
      OpFlags{.may_produce_inf = std::isinf(value)});
}

}  // namespace tg
