#include "tapegrad/ops/linalg.hpp"

#include <algorithm>
#include <climits>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "tapegrad/kernels/blas.hpp"
#include "tapegrad/kernels/fast_math.hpp"
#include "tapegrad/ops/elementwise.hpp"
#include "tapegrad/ops/kernel.hpp"
#include "tapegrad/ops/packed_weights.hpp"
#include "tapegrad/ops/quantized_weights.hpp"
#include "tapegrad/ops/weight_grads.hpp"

namespace tg {
namespace {

// y = x w^T, or y += x w^T, for x [m, k] and a weight w [n, k] in PyTorch's layout: through
// w's int8 copy where one is registered and nothing is recorded, through w's packed copy inside
// a FrozenWeights scope where that pays, else one gemm.
template <class T>
void times_weight_t(std::size_t m, std::size_t n, std::size_t k, const T* x, const Var& w, bool accumulate, T* y) {
  if constexpr (std::is_same_v<T, float>) {
    if (quantized_times_weight_t(m, n, k, x, w, accumulate, y)) return;
    if (packed_times_weight_t(m, n, k, x, w, accumulate, y)) return;
  }
  gemm(false, true, m, n, k, x, w.value().array<T>().data(), accumulate, y);
}

// A matmul as `batch` gemms of op(a_i) [m, k] times op(b_i) [k, n] into
// y_i [m, n], operand i starting i * step elements in; a step of 0 shares
// (broadcasts) that operand across the batch. When b is shared and a is not
// transposed, the batch folds into m: one gemm over a seen as [B*M, K].
struct MatmulPlan {
  std::size_t batch = 1;
  std::size_t a_step = 0, b_step = 0, y_step = 0;
  std::size_t m = 0, n = 0, k = 0;
  bool ta = false, tb = false;
  Shape out_shape;
};

MatmulPlan plan_matmul(const Var& a, const Var& b, bool ta, bool tb) {
  kernel::check_defined("matmul", {{"a", a}, {"b", b}});
  auto fail = [&](const std::string& why) {
    return ShapeError(fmt::format("{}: cannot multiply a {} (transpose_a = {}) by b {} (transpose_b = {}): {}",
                                  op_context("matmul"), shape_str(a.shape()), ta, shape_str(b.shape()), tb, why));
  };
  if (a.dtype() != b.dtype()) {
    throw DTypeError(fmt::format("{}: a {} (transpose_a = {}) is {} but b {} (transpose_b = {}) is {}",
                                 op_context("matmul"), shape_str(a.shape()), ta, dtype_name(a.dtype()),
                                 shape_str(b.shape()), tb, dtype_name(b.dtype())));
  }
  const std::size_t ra = a.dim(), rb = b.dim();
  if (!((ra == 2 || ra == 3) && rb == 2) && !(ra == 3 && rb == 3)) {
    throw fail("supported are [M, K] x [K, N], [B, M, K] x [B, K, N] and [B, M, K] x [K, N] (after transposes)");
  }
  const Shape& sa = a.shape();
  const Shape& sb = b.shape();
  MatmulPlan p;
  p.ta = ta;
  p.tb = tb;
  p.m = ta ? sa[ra - 1] : sa[ra - 2];
  p.k = ta ? sa[ra - 2] : sa[ra - 1];
  const std::size_t kb = tb ? sb[rb - 1] : sb[rb - 2];
  p.n = tb ? sb[rb - 2] : sb[rb - 1];
  if (p.k != kb) throw fail(fmt::format("inner sizes differ ({} vs {})", p.k, kb));
  if (ra == 2) {
    p.out_shape = {p.m, p.n};
  } else {
    const std::size_t ba = sa[0], bb = rb == 3 ? sb[0] : 1;
    if (ba != bb && ba != 1 && bb != 1) {
      throw fail(fmt::format("batch sizes {} and {} differ and neither is 1", ba, bb));
    }
    const std::size_t batch = ba == 1 ? bb : ba;
    p.out_shape = {batch, p.m, p.n};
    if (bb == 1 && !ta) {
      p.m *= batch;  // b shared, a's rows contiguous: one gemm
    } else {
      p.batch = batch;
      p.a_step = ba == 1 ? 0 : p.m * p.k;
      p.b_step = bb == 1 ? 0 : p.k * p.n;
      p.y_step = p.m * p.n;
    }
  }
  checked_numel(p.out_shape, sizeof(double), [] { return op_context("matmul"); });
  if (std::max({p.m, p.n, p.k}) > static_cast<std::size_t>(INT_MAX)) {
    throw fail("a matrix dimension exceeds BLAS's int range");
  }
  return p;
}

template <class T>
Array<T> matmul_forward(const Array<T>& a, const Array<T>& b, const MatmulPlan& p) {
  Array<T> y = Array<T>::from_shape(p.out_shape);
  for (std::size_t i = 0; i < p.batch; ++i) {
    gemm(p.ta, p.tb, p.m, p.n, p.k, a.data() + i * p.a_step, b.data() + i * p.b_step, false, y.data() + i * p.y_step);
  }
  return y;
}

// With g = dy_i: d op(a) = g op(b)^T and d op(b) = op(a)^T g, mapped back
// through the flags (da = op(b) g^T when a is transposed, db = g^T op(a) when
// b is). A shared operand's gradient adds up over the batch in place.
// a and b are inputs ia and ia + 1 (addmm's c comes first).
template <class T>
void matmul_backward_a(BackwardContext& c, const MatmulPlan& p, std::size_t ia) {
  const std::size_t ib = ia + 1;
  const T* b = c.input(ib).array<T>().data();
  const T* g = c.grad_output().array<T>().data();
  if (c.needs_grad(ia)) {
    kernel::GradTarget<T> da(c, ia);
    for (std::size_t i = 0; i < p.batch; ++i) {
      const T* gi = g + i * p.y_step;
      const T* bi = b + i * p.b_step;
      T* dai = da.data() + i * p.a_step;
      const bool acc = da.accumulate() || (p.a_step == 0 && i > 0);
      if (p.ta) {
        gemm(p.tb, true, p.k, p.m, p.n, bi, gi, acc, dai);
      } else {
        bool packed = false;  // a weight's b [n, k]: da = g b through b's copy packed for the pass
        if constexpr (std::is_same_v<T, float>) {
          packed = p.tb && p.batch == 1 && packed_times_weight(c, ib, p.m, p.k, p.n, gi, acc, dai);
        }
        if (!packed) gemm(false, !p.tb, p.m, p.k, p.n, gi, bi, acc, dai);
      }
    }
    da.finish(c, ia, p.batch == 0);
  }
}

template <class T>
void matmul_backward_b(BackwardContext& c, const MatmulPlan& p, std::size_t ia) {
  const std::size_t ib = ia + 1;
  const T* a = c.input(ia).array<T>().data();
  const T* g = c.grad_output().array<T>().data();
  if (c.needs_grad(ib)) {
    kernel::GradTarget<T> db(c, ib);
    for (std::size_t i = 0; i < p.batch; ++i) {
      const T* gi = g + i * p.y_step;
      const T* ai = a + i * p.a_step;
      T* dbi = db.data() + i * p.b_step;
      const bool acc = db.accumulate() || (p.b_step == 0 && i > 0);
      if (p.tb) {
        gemm(true, p.ta, p.n, p.k, p.m, gi, ai, acc, dbi);
      } else {
        gemm(!p.ta, false, p.k, p.n, p.m, ai, gi, acc, dbi);
      }
    }
    db.finish(c, ib, p.batch == 0);
  }
}

template <class T>
void matmul_backward(BackwardContext& c, const MatmulPlan& p) {
  matmul_backward_a<T>(c, p, 0);
  matmul_backward_b<T>(c, p, 0);
}

void check_linear(const Var& x, const Var& weight, const Var* bias) {
  const bool fits = (x.dim() == 2 || x.dim() == 3) && weight.dim() == 2 && x.shape().back() == weight.shape()[1] &&
                    (bias == nullptr || (bias->dim() == 1 && bias->shape()[0] == weight.shape()[0]));
  if (!fits) {
    throw ShapeError(
        fmt::format("{}: x {}, weight {}{}{} do not fit: expected x [..., in] of rank 2 or 3, weight "
                    "[out, in]{}",
                    op_context("linear"), shape_str(x.shape()), shape_str(weight.shape()), bias ? " and bias " : "",
                    bias ? shape_str(bias->shape()) : "", bias ? " and bias [out]" : ""));
  }
  kernel::check_same_dtype("linear", x.value(), weight.value());
  if (bias) kernel::check_same_dtype("linear", weight.value(), bias->value());
}

// For y = x w^T + ... with x input ix [rows, in] and w input ix + 1 [out, in]:
// dx = dy w, a gemm into the gradient gathered so far when there is one.
// gemm's k = 0 (in = 0 or rows = 0) writes zeros, or adds nothing.
template <class T>
void input_backward(BackwardContext& c, std::size_t rows, std::size_t out, std::size_t in, std::size_t ix) {
  if (!c.needs_grad(ix)) return;
  kernel::GradTarget<T> dx(c, ix);
  const T* g = c.grad_output().array<T>().data();
  if constexpr (std::is_same_v<T, float>) {
    if (packed_times_weight(c, ix + 1, rows, in, out, g, dx.accumulate(), dx.data())) {
      dx.finish(c, ix, false);
      return;
    }
  }
  gemm(false, false, rows, in, out, g, c.input(ix + 1).array<T>().data(), dx.accumulate(), dx.data());
  dx.finish(c, ix, false);
}

// dw = dy^T x for each weight input ix + 1 of (ix, in) in `weights`, all of one op
// with the same dy [rows, out]: left to the end of the pass where that pays
// (weight_grads.hpp), which takes dy, so this runs after everything else that reads it.
template <class T>
void weights_backward(BackwardContext& c, const char* op, std::size_t rows, std::size_t out,
                      std::initializer_list<std::pair<std::size_t, std::size_t>> weights) {
  std::shared_ptr<const Tensor> kept;  // dy, once given up to the end of the pass
  for (const std::pair<std::size_t, std::size_t>& weight : weights) {
    const std::size_t ix = weight.first, in = weight.second, iw = ix + 1;
    if (!c.needs_grad(iw)) continue;
    if (would_defer_weight_grad(c, iw, rows)) {
      if (!kept) kept = std::make_shared<const Tensor>(c.take_grad_output());
      defer_weight_grad(c, op, iw, ix, rows, out, in, kept);
      continue;
    }
    const T* g = (kept ? *kept : c.grad_output()).array<T>().data();
    kernel::GradTarget<T> dw(c, iw);
    gemm(true, false, out, in, rows, g, c.input(ix).array<T>().data(), dw.accumulate(), dw.data());
    dw.finish(c, iw, false);
  }
}

// A bias [out] (input ib) added to every row of y: its gradient is dy's column sums.
template <class T>
void bias_backward(BackwardContext& c, std::size_t rows, std::size_t out, std::size_t ib) {
  if (!c.needs_grad(ib)) return;
  const T* g = c.grad_output().array<T>().data();
  kernel::GradTarget<T> db(c, ib);
  T* d = db.data();
  if (!db.accumulate()) std::fill(d, d + out, T(0));
  for (std::size_t r = 0; r < rows; ++r) {
    const T* gr = g + r * out;
    if constexpr (std::is_same_v<T, float>) {
      fast::add_into(d, gr, out);
    } else {
      for (std::size_t j = 0; j < out; ++j) d[j] += gr[j];
    }
  }
  db.finish(c, ib, false);
}

}  // namespace

// y = op(a) op(b); d op(a) = dy op(b)^T, d op(b) = op(a)^T dy (all gemms with flags)
Var matmul(const Var& a, const Var& b, bool transpose_a, bool transpose_b) {
  MatmulPlan p = plan_matmul(a, b, transpose_a, transpose_b);
  Tensor y = dispatch(a.dtype(), [&](auto zero) -> Tensor {
    using T = decltype(zero);
    if constexpr (std::is_same_v<T, float>) {
      // a w^T with a weight w (keys projected once per batch by an attention): its int8 copy, if any.
      if (p.batch == 1 && p.tb && !p.ta && b.dim() == 2) {
        Array<T> result = Array<T>::from_shape(p.out_shape);
        if (quantized_times_weight_t(p.m, p.n, p.k, a.value().array<T>().data(), b, false, result.data())) {
          return Tensor(std::move(result));
        }
      }
    }
    return Tensor(matmul_forward(a.value().array<T>(), b.value().array<T>(), p));
  });
  return record("matmul", {a, b}, std::move(y), [p](BackwardContext& c) {
    dispatch(c.input(0).dtype(), [&](auto zero) {
      using T = decltype(zero);
      matmul_backward<T>(c, p);
    });
  });
}

// y = c + op(a) op(b): c (or c's row, repeated) is copied into y and the gemm adds
// onto it (beta = 1), which saves matmul's temporary and an add's pass over y.
// dc = dy (or its column sums), d op(a) and d op(b) as for matmul.
Var addmm(const Var& c, const Var& a, const Var& b, bool transpose_a, bool transpose_b) {
  kernel::check_defined("addmm", {{"c", c}, {"a", a}, {"b", b}});
  if (a.dim() != 2 || b.dim() != 2) {
    throw ShapeError(fmt::format("{}: a {} and b {} must be matrices", op_context("addmm"), shape_str(a.shape()),
                                 shape_str(b.shape())));
  }
  const MatmulPlan p = plan_matmul(a, b, transpose_a, transpose_b);
  const bool row = c.shape() == Shape{p.n};
  if (c.shape() != p.out_shape && !row) {
    throw ShapeError(
        fmt::format("{}: c {} must be [M, N] = {} or [N] = [{}] for a {} (transpose_a = {}) and b {} "
                    "(transpose_b = {})",
                    op_context("addmm"), shape_str(c.shape()), shape_str(p.out_shape), p.n, shape_str(a.shape()),
                    transpose_a, shape_str(b.shape()), transpose_b));
  }
  kernel::check_same_dtype("addmm", c.value(), a.value());
  Tensor y = dispatch(a.dtype(), [&](auto zero) -> Tensor {
    using T = decltype(zero);
    Array<T> result = Array<T>::from_shape(p.out_shape);
    const T* from = c.value().array<T>().data();
    if (row) {
      for (std::size_t r = 0; r < p.m; ++r) std::copy(from, from + p.n, result.data() + r * p.n);
    } else {
      std::copy(from, from + p.m * p.n, result.data());
    }
    if (p.tb && !p.ta) {
      times_weight_t(p.m, p.n, p.k, a.value().array<T>().data(), b, true, result.data());
    } else {
      gemm(p.ta, p.tb, p.m, p.n, p.k, a.value().array<T>().data(), b.value().array<T>().data(), true, result.data());
    }
    return Tensor(std::move(result));
  });
  return record("addmm", {c, a, b}, std::move(y), [p, row](BackwardContext& ctx) {
    dispatch(ctx.input(1).dtype(), [&](auto zero) {
      using T = decltype(zero);
      matmul_backward_a<T>(ctx, p, 1);
      if (row) bias_backward<T>(ctx, p.m, p.n, 0);
      // b as a weight (a Wᵀ): its gradient may wait for the end of the pass, keeping dy.
      if (p.tb && !p.ta && p.batch == 1 && would_defer_weight_grad(ctx, 2, p.m)) {
        auto kept = std::make_shared<const Tensor>(ctx.take_grad_output());
        defer_weight_grad(ctx, "addmm", 2, 1, p.m, p.n, p.k, kept);
        if (!row && ctx.needs_grad(0)) ctx.grad_input(0) = *kept;
        return;
      }
      matmul_backward_b<T>(ctx, p, 1);
      if (!row && ctx.needs_grad(0)) ctx.grad_input(0) = ctx.take_grad_output();
    });
  });
}

namespace {

// y = x weight^T + bias over the rows of x [R, in] (R = its leading dims);
// dx = dy weight, dweight = dy^T x, dbias = the column sums of dy. One op
// rather than matmul then add: the bias is copied into y and the gemm adds onto
// it, which saves a broadcast add over y in the forward and a reduction node.
Var linear_op(const Var& x, const Var& weight, const Var* bias) {
  kernel::check_defined("linear", {{"x", x}, {"weight", weight}});
  if (bias) kernel::check_defined("linear", {{"bias", *bias}}, 2);
  check_linear(x, weight, bias);
  const std::size_t out = weight.shape()[0], in = weight.shape()[1];
  Shape y_shape = x.shape();
  y_shape.back() = out;
  checked_numel(y_shape, sizeof(double), [] { return op_context("linear"); });
  std::size_t rows = 1;
  for (std::size_t d = 0; d + 1 < x.dim(); ++d) rows *= x.shape()[d];
  if (std::max({rows, out, in}) > static_cast<std::size_t>(INT_MAX)) {
    throw ShapeError(fmt::format("{}: x {} and weight {} exceed BLAS's int range", op_context("linear"),
                                 shape_str(x.shape()), shape_str(weight.shape())));
  }
  Tensor y = dispatch(x.dtype(), [&](auto zero) -> Tensor {
    using T = decltype(zero);
    Array<T> result = Array<T>::from_shape(y_shape);
    if (bias) {
      const T* b = bias->value().array<T>().data();
      for (std::size_t r = 0; r < rows; ++r) std::copy(b, b + out, result.data() + r * out);
    }
    // With no bias and in = 0, gemm's k = 0 writes the zeros.
    times_weight_t(rows, out, in, x.value().array<T>().data(), weight, bias != nullptr, result.data());
    return Tensor(std::move(result));
  });
  std::vector<Var> inputs{x, weight};
  if (bias) inputs.push_back(*bias);
  return record("linear", inputs, std::move(y), [rows, out, in](BackwardContext& c) {
    dispatch(c.input(0).dtype(), [&](auto zero) {
      using T = decltype(zero);
      input_backward<T>(c, rows, out, in, 0);
      if (c.num_inputs() > 2) bias_backward<T>(c, rows, out, 2);
      weights_backward<T>(c, "linear", rows, out, {{0, in}});
    });
  });
}

}  // namespace

Var linear(const Var& x, const Var& weight, const Var& bias) { return linear_op(x, weight, &bias); }

Var linear(const Var& x, const Var& weight) { return linear_op(x, weight, nullptr); }

// y = x1 w1^T + x2 w2^T + b1 + b2 over the rows of the 2-D x1 and x2: both biases go into
// y first, then both gemms add onto it. Each pair's gradients as linear's.
Var linear_pair(const Var& x1, const Var& w1, const Var& x2, const Var& w2, const Var& b1, const Var& b2) {
  kernel::check_defined("linear_pair", {{"x1", x1}, {"w1", w1}, {"x2", x2}, {"w2", w2}});  // the biases are optional
  check_linear(x1, w1, b1.defined() ? &b1 : nullptr);
  check_linear(x2, w2, b2.defined() ? &b2 : nullptr);
  const std::size_t rows = x1.shape()[0], out = w1.shape()[0], in1 = w1.shape()[1], in2 = w2.shape()[1];
  if (x1.dim() != 2 || x2.dim() != 2 || x2.shape()[0] != rows || w2.shape()[0] != out) {
    throw ShapeError(fmt::format("{}: x1 {} with w1 {} and x2 {} with w2 {} must give y of one shape [rows, out]",
                                 op_context("linear_pair"), shape_str(x1.shape()), shape_str(w1.shape()),
                                 shape_str(x2.shape()), shape_str(w2.shape())));
  }
  kernel::check_same_dtype("linear_pair", x1.value(), x2.value());
  if (std::max({rows, out, in1, in2}) > static_cast<std::size_t>(INT_MAX)) {
    throw ShapeError(fmt::format("{}: x1 {} and x2 {} exceed BLAS's int range", op_context("linear_pair"),
                                 shape_str(x1.shape()), shape_str(x2.shape())));
  }
  std::vector<Var> inputs{x1, w1, x2, w2};
  for (const Var* b : {&b1, &b2}) {
    if (b->defined()) inputs.push_back(*b);
  }
  Tensor y = dispatch(x1.dtype(), [&](auto zero) -> Tensor {
    using T = decltype(zero);
    Array<T> result = Array<T>::from_shape({rows, out});
    std::vector<T> bias(out, T(0));
    for (std::size_t i = 4; i < inputs.size(); ++i) {
      const T* b = inputs[i].value().array<T>().data();
      for (std::size_t j = 0; j < out; ++j) bias[j] += b[j];
    }
    for (std::size_t r = 0; r < rows; ++r) std::copy(bias.begin(), bias.end(), result.data() + r * out);
    times_weight_t(rows, out, in1, x1.value().array<T>().data(), w1, true, result.data());
    times_weight_t(rows, out, in2, x2.value().array<T>().data(), w2, true, result.data());
    return Tensor(std::move(result));
  });
  return record("linear_pair", inputs, std::move(y), [rows, out, in1, in2](BackwardContext& c) {
    dispatch(c.input(0).dtype(), [&](auto zero) {
      using T = decltype(zero);
      input_backward<T>(c, rows, out, in1, 0);
      input_backward<T>(c, rows, out, in2, 2);
      for (std::size_t i = 4; i < c.num_inputs(); ++i) bias_backward<T>(c, rows, out, i);
      weights_backward<T>(c, "linear_pair", rows, out, {{0, in1}, {2, in2}});
    });
  });
}

}  // namespace tg
