#include "tapegrad/ops/attention.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include <fmt/format.h>

#include "tapegrad/autodiff/mode.hpp"
#include "tapegrad/kernels/blas.hpp"
#include "tapegrad/kernels/fast_math.hpp"
#include "tapegrad/ops/kernel.hpp"
#include "tapegrad/ops/softmax.hpp"

namespace tg {
// y[b, s] = v . t[b, s, :] with t = tanh(keys[b, s, :] + query[b, :])
// dpre[b, s, a] = dy[b, s] v[a] (1 - t^2):  dkeys = dpre, dquery[b] = sum_s dpre[b, s], dv = sum_{b, s} dy t
Var additive_scores(const Var& keys, const Var& query, const Var& v) {
  kernel::check_defined("additive_scores", {{"keys", keys}, {"query", query}, {"v", v}});
  const Shape& k = keys.shape();
  if (k.size() != 3 || query.dim() != 2 || v.dim() != 1 || query.shape()[0] != k[0] || query.shape()[1] != k[2] ||
      v.shape()[0] != k[2]) {
    throw ShapeError(fmt::format("{}: needs keys [B, S, A], query [B, A] and v [A], got keys {}, query {} and v {}",
                                 op_context("additive_scores"), shape_str(k), shape_str(query.shape()),
                                 shape_str(v.shape())));
  }
  kernel::check_same_dtype("additive_scores", keys.value(), query.value());
  kernel::check_same_dtype("additive_scores", keys.value(), v.value());
  const std::size_t batch = k[0], steps = k[1], size = k[2];
  // The tanh values are what the backward reads; without one, a row of scratch will do.
  const bool keep = is_grad_enabled() && (keys.requires_grad() || query.requires_grad() || v.requires_grad());
  Tensor saved;
  Tensor y = dispatch(keys.dtype(), [&](auto zero) -> Tensor {
    using T = decltype(zero);
    Array<T> out = Array<T>::from_shape({batch, steps});
    Array<T> t = Array<T>::from_shape(keep ? Shape{batch, steps, size} : Shape{size});
    const T* kp = keys.value().array<T>().data();
    const T* qp = query.value().array<T>().data();
    const T* vp = v.value().array<T>().data();
    for (std::size_t b = 0; b < batch; ++b) {
      for (std::size_t s = 0; s < steps; ++s) {
        const T* krow = kp + (b * steps + s) * size;
        const T* qrow = qp + b * size;
        T* trow = t.data() + (keep ? (b * steps + s) * size : 0);
        if constexpr (std::is_same_v<T, float>) {
          out.data()[b * steps + s] = fast::additive_score_row(krow, qrow, vp, trow, size);
        } else {
          for (std::size_t a = 0; a < size; ++a) trow[a] = std::tanh(krow[a] + qrow[a]);
          out.data()[b * steps + s] = dot(trow, vp, size);
        }
      }
    }
    if (keep) saved = Tensor(std::move(t));
    return Tensor(std::move(out));
  });
  return record("additive_scores", {keys, query, v}, std::move(y),
                [saved = std::move(saved), batch, steps, size](BackwardContext& c) {
                  dispatch(c.input(0).dtype(), [&](auto zero) {
                    using T = decltype(zero);
                    const T* tp = saved.array<T>().data();
                    const T* vp = c.input(2).array<T>().data();
                    const T* dy = c.grad_output().array<T>().data();
                    // Keys are read at every decoder step: their gradient usually adds into what
                    // the later steps gathered.
                    const bool want_keys = c.needs_grad(0), want_query = c.needs_grad(1), want_v = c.needs_grad(2);
                    std::optional<kernel::GradTarget<T>> dkeys;
                    if (want_keys) dkeys.emplace(c, 0);
                    Array<T> dquery = Array<T>::from_shape(want_query ? Shape{batch, size} : Shape{0});
                    Array<T> dv = Array<T>::from_shape(want_v ? Shape{size} : Shape{0});
                    std::fill(dquery.begin(), dquery.end(), T(0));
                    std::fill(dv.begin(), dv.end(), T(0));
                    std::vector<T> pre(size);  // the gradient at tanh's input, one row
                    for (std::size_t b = 0; b < batch; ++b) {
                      for (std::size_t s = 0; s < steps; ++s) {
                        const T g = dy[b * steps + s];
                        const T* trow = tp + (b * steps + s) * size;
                        if constexpr (std::is_same_v<T, float>) {
                          fast::additive_score_row_backward(
                              g, trow, vp, want_keys ? dkeys->data() + (b * steps + s) * size : nullptr,
                              want_keys && dkeys->accumulate(), want_query ? dquery.data() + b * size : nullptr,
                              want_v ? dv.data() : nullptr, size);
                          continue;
                        }
                        for (std::size_t a = 0; a < size; ++a) pre[a] = g * vp[a] * (T(1) - trow[a] * trow[a]);
                        if (want_keys) {
                          T* dk = dkeys->data() + (b * steps + s) * size;
                          if (dkeys->accumulate()) {
                            for (std::size_t a = 0; a < size; ++a) dk[a] += pre[a];
                          } else {
                            std::copy(pre.begin(), pre.end(), dk);
                          }
                        }
                        if (want_query) {
                          T* dq = dquery.data() + b * size;
                          for (std::size_t a = 0; a < size; ++a) dq[a] += pre[a];
                        }
                        if (want_v) {
                          for (std::size_t a = 0; a < size; ++a) dv.data()[a] += g * trow[a];
                        }
                      }
                    }
                    if (want_keys) dkeys->finish(c, 0, false);
                    if (want_query) c.grad_input(1) = Tensor(std::move(dquery));
                    if (want_v) c.grad_input(2) = Tensor(std::move(dv));
                  });
                });
}

namespace {

// A mask or an added tensor of shape broadcastable to [N, L, S], read at (n, i, j): its
// dimensions right-aligned, those of size 1 (or missing) with stride 0.
struct Broadcast3 {
  std::size_t stride[3] = {0, 0, 0};

  Broadcast3(const char* what, const Shape& shape, const Shape& target) {
    if (shape.size() > 3) throw_shape(what, shape, target);
    std::size_t step = 1;
    for (std::size_t k = 0; k < shape.size(); ++k) {
      const std::size_t axis = 2 - k;  // from the last dimension back
      const std::size_t dim = shape[shape.size() - 1 - k];
      if (dim != 1 && dim != target[axis]) throw_shape(what, shape, target);
      stride[axis] = dim == 1 ? 0 : step;
      step *= dim;
    }
  }
  std::size_t at(std::size_t n, std::size_t i, std::size_t j) const {
    return n * stride[0] + i * stride[1] + j * stride[2];
  }
  [[noreturn]] static void throw_shape(const char* what, const Shape& shape, const Shape& target) {
    throw ShapeError(fmt::format("{}: {} {} does not broadcast to the scores' [B * heads, L, S] = {}",
                                 op_context("attend_heads"), what, shape_str(shape), shape_str(target)));
  }
};

// The sizes of one attend_heads call.
struct HeadShapes {
  std::size_t batch, heads, l, s, d, dv;
  std::size_t rows() const { return batch * heads; }
  std::size_t e() const { return heads * d; }    // the query's columns
  std::size_t ev() const { return heads * dv; }  // the result's columns
};

HeadShapes check_heads(const Var& query, const Var& keys, const Var& values, const HeadAttentionOptions& o) {
  kernel::check_defined("attend_heads", {{"query", query}, {"keys", keys}, {"values", values}});
  const Shape &q = query.shape(), &k = keys.shape(), &v = values.shape();
  const bool fits = o.heads > 0 && q.size() == 3 && k.size() == 3 && v.size() == 3 && q[2] % o.heads == 0 &&
                    k[0] == q[0] * o.heads && v[0] == k[0] && v[1] == k[1] && k[2] == q[2] / o.heads;
  if (!fits) {
    throw ShapeError(fmt::format(
        "{}: needs query [B, L, heads * d], keys [B * heads, S, d] and values [B * heads, S, dv] with heads = {}, "
        "got query {}, keys {} and values {}",
        op_context("attend_heads"), o.heads, shape_str(q), shape_str(k), shape_str(v)));
  }
  kernel::check_same_dtype("attend_heads", query.value(), keys.value());
  kernel::check_same_dtype("attend_heads", query.value(), values.value());
  if (o.added.defined()) kernel::check_same_dtype("attend_heads", query.value(), o.added);
  if (!(o.dropout >= 0.0 && o.dropout <= 1.0)) {
    throw Error(fmt::format("{}: dropout = {} is outside [0, 1]", op_context("attend_heads"), o.dropout));
  }
  return {q[0], o.heads, q[1], k[1], k[2], v[2]};
}

// Copies an [rows, cols] block whose rows lie `stride` apart into contiguous memory, divided by
// `divisor` (as the op `x / divisor` would), or back.
template <class T>
void gather_block(const T* from, std::size_t stride, std::size_t rows, std::size_t cols, T* to, T divisor = T(1)) {
  for (std::size_t r = 0; r < rows; ++r) {
    for (std::size_t c = 0; c < cols; ++c) to[r * cols + c] = from[r * stride + c] / divisor;
  }
}
template <class T>
void scatter_block(const T* from, std::size_t rows, std::size_t cols, T* to, std::size_t stride) {
  for (std::size_t r = 0; r < rows; ++r) std::copy_n(from + r * cols, cols, to + r * stride);
}

}  // namespace

// scores_n = (q_n / c) k_n^T + added, blocked pairs -inf; p_n = softmax(scores_n); w_n = dropout(p_n); y_n = w_n v_n
// dv_n = w_n^T dy_n; dw_n = dy_n v_n^T; dp_n = dropout'(dw_n); ds_n = p_n (dp_n - rowsum(dp_n p_n));
// dq_n = (ds_n k_n) / c; dk_n = ds_n^T (q_n / c)
Var attend_heads(const Var& query, const Var& keys, const Var& values, const HeadAttentionOptions& o) {
  const HeadShapes n = check_heads(query, keys, values, o);
  const Shape scores_shape{n.rows(), n.l, n.s};
  const bool has_blocked = o.blocked.size() > 0 && o.blocked.dimension() > 0 && xt::any(o.blocked);
  const Broadcast3 blocked_at(
      "blocked", has_blocked ? Shape(o.blocked.shape().begin(), o.blocked.shape().end()) : Shape{1}, scores_shape);
  const Broadcast3 added_at("added", o.added.defined() ? o.added.shape() : Shape{1}, scores_shape);
  const bool drop = o.training && o.dropout > 0.0;
  Mask keep;
  if (drop) {
    Generator& gen = o.generator != nullptr ? *o.generator : default_generator();
    keep = Mask::from_shape(scores_shape);
    for (bool& k : keep) k = gen.uniform() >= o.dropout;
  }
  const double keep_scale = o.dropout < 1.0 ? 1.0 / (1.0 - o.dropout) : 0.0;
  const std::size_t e = n.e(), ev = n.ev();
  Tensor weights;  // p = softmax(scores) [B * heads, L, S], before dropout
  Tensor y = dispatch(query.dtype(), [&](auto zero) -> Tensor {
    using T = decltype(zero);
    constexpr T neg_inf = -std::numeric_limits<T>::infinity();
    const T* q = query.value().array<T>().data();
    const T* k = keys.value().array<T>().data();
    const T* v = values.value().array<T>().data();
    const T* added = o.added.defined() ? o.added.array<T>().data() : nullptr;
    Array<T> p = Array<T>::from_shape(scores_shape);
    Array<T> out = Array<T>::from_shape({n.batch, n.l, ev});
    std::vector<T> q_n(n.l * n.d), scores(n.l * n.s), w(drop ? n.l * n.s : 0), y_n(n.l * n.dv);
    for (std::size_t r = 0; r < n.rows(); ++r) {
      const std::size_t b = r / n.heads, h = r % n.heads;
      gather_block(q + b * n.l * e + h * n.d, e, n.l, n.d, q_n.data(), static_cast<T>(o.scale_divisor));
      gemm(false, true, n.l, n.s, n.d, q_n.data(), k + r * n.s * n.d, false, scores.data());
      for (std::size_t i = 0; i < n.l; ++i) {
        for (std::size_t j = 0; j < n.s; ++j) {
          T& x = scores[i * n.s + j];
          if (added != nullptr) x += added[added_at.at(r, i, j)];
          if (has_blocked && o.blocked.data()[blocked_at.at(r, i, j)]) x = neg_inf;
        }
        softmax_row(scores.data() + i * n.s, p.data() + (r * n.l + i) * n.s, n.s);
      }
      const T* used = p.data() + r * n.l * n.s;
      if (drop) {
        const bool* kept = keep.data() + r * n.l * n.s;
        for (std::size_t i = 0; i < w.size(); ++i) w[i] = kept[i] ? used[i] * T(keep_scale) : T(0);
        used = w.data();
      }
      gemm(false, false, n.l, n.dv, n.s, used, v + r * n.s * n.dv, false, y_n.data());
      scatter_block(y_n.data(), n.l, n.dv, out.data() + b * n.l * ev + h * n.dv, ev);
    }
    weights = Tensor(std::move(p));
    return Tensor(std::move(out));
  });
  return record(
      "attend_heads", {query, keys, values}, std::move(y),
      [weights = std::move(weights), keep = std::move(keep), keep_scale, n, drop,
       divisor = o.scale_divisor](BackwardContext& c) {
        dispatch(c.input(0).dtype(), [&](auto zero) {
          using T = decltype(zero);
          const std::size_t block = n.l * n.s;
          const T* q = c.input(0).array<T>().data();
          const T* k = c.input(1).array<T>().data();
          const T* v = c.input(2).array<T>().data();
          const T* dy = c.grad_output().array<T>().data();
          const T* p_all = weights.array<T>().data();
          Array<T> dq = Array<T>::from_shape(c.needs_grad(0) ? c.input(0).shape() : Shape{0});
          Array<T> dk = Array<T>::from_shape(c.needs_grad(1) ? c.input(1).shape() : Shape{0});
          Array<T> dv = Array<T>::from_shape(c.needs_grad(2) ? c.input(2).shape() : Shape{0});
          std::vector<T> dy_n(n.l * n.dv), w(drop ? block : 0), dw(block), ds(block), q_n(n.l * n.d), dq_n(n.l * n.d);
          for (std::size_t r = 0; r < n.rows(); ++r) {
            const std::size_t b = r / n.heads, h = r % n.heads;
            const T* p = p_all + r * block;
            const bool* kept = drop ? keep.data() + r * block : nullptr;
            const T* used = p;
            if (drop) {
              for (std::size_t i = 0; i < block; ++i) w[i] = kept[i] ? p[i] * T(keep_scale) : T(0);
              used = w.data();
            }
            gather_block(dy + b * n.l * n.ev() + h * n.dv, n.ev(), n.l, n.dv, dy_n.data());
            if (c.needs_grad(2)) {
              gemm(true, false, n.s, n.dv, n.l, used, dy_n.data(), false, dv.data() + r * n.s * n.dv);
            }
            if (!c.needs_grad(0) && !c.needs_grad(1)) continue;
            gemm(false, true, n.l, n.s, n.dv, dy_n.data(), v + r * n.s * n.dv, false, dw.data());
            if (drop) {
              for (std::size_t i = 0; i < block; ++i) dw[i] = kept[i] ? dw[i] * T(keep_scale) : T(0);
            }
            for (std::size_t i = 0; i < n.l; ++i) {
              softmax_row_backward(p + i * n.s, dw.data() + i * n.s, ds.data() + i * n.s, n.s);
            }
            if (c.needs_grad(0)) {
              gemm(false, false, n.l, n.d, n.s, ds.data(), k + r * n.s * n.d, false, dq_n.data());
              for (T& x : dq_n) x /= static_cast<T>(divisor);
              scatter_block(dq_n.data(), n.l, n.d, dq.data() + b * n.l * n.e() + h * n.d, n.e());
            }
            if (c.needs_grad(1)) {
              gather_block(q + b * n.l * n.e() + h * n.d, n.e(), n.l, n.d, q_n.data(), static_cast<T>(divisor));
              gemm(true, false, n.s, n.d, n.l, ds.data(), q_n.data(), false, dk.data() + r * n.s * n.d);
            }
          }
          if (c.needs_grad(0)) c.grad_input(0) = Tensor(std::move(dq));
          if (c.needs_grad(1)) c.grad_input(1) = Tensor(std::move(dk));
          if (c.needs_grad(2)) c.grad_input(2) = Tensor(std::move(dv));
        });
      });
}

}  // namespace tg
