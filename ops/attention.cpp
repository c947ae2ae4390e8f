#include "tapegrad/ops/attention.hpp"

#include <algorithm>
#include <array>
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
};

// Where head h of batch entry b of a query, key or value lies in its input: `rows` rows (L or S)
// of `width` values (d or dv), either split ([B * heads, rows, width], a block of its own) or side
// by side with the other heads ([B, rows, columns], starting at column `offset`).
struct HeadView {
  std::size_t input;  // which of the op's inputs
  std::size_t rows, width, columns, offset;
  bool split;

  std::size_t base(std::size_t b, std::size_t h, std::size_t heads) const {
    return split ? (b * heads + h) * rows * width : b * rows * columns + offset + h * width;
  }
  std::size_t stride() const { return split ? width : columns; }
};

// The head's block as contiguous [rows, width] values divided by `divisor`: in place when it is
// contiguous already and nothing divides it, else copied into `scratch`.
template <class T>
const T* read_head(const HeadView& view, const T* data, std::size_t b, std::size_t h, std::size_t heads,
                   std::vector<T>& scratch, double divisor = 1) {
  const T* from = data + view.base(b, h, heads);
  if (view.stride() == view.width && divisor == 1) return from;
  scratch.resize(view.rows * view.width);
  const T div = static_cast<T>(divisor);
  for (std::size_t r = 0; r < view.rows; ++r) {
    for (std::size_t c = 0; c < view.width; ++c) scratch[r * view.width + c] = from[r * view.stride() + c] / div;
  }
  return scratch.data();
}

// Writes contiguous [rows, width] values into the head's block of `data`.
template <class T>
void write_head(const HeadView& view, const T* from, T* data, std::size_t b, std::size_t h, std::size_t heads) {
  T* to = data + view.base(b, h, heads);
  for (std::size_t r = 0; r < view.rows; ++r) std::copy_n(from + r * view.width, view.width, to + r * view.stride());
}

void check_options(const Var& like, const HeadAttentionOptions& o) {
  if (o.added.defined()) kernel::check_same_dtype("attend_heads", like.value(), o.added);
  if (!(o.dropout >= 0.0 && o.dropout <= 1.0)) {
    throw Error(fmt::format("{}: dropout = {} is outside [0, 1]", op_context("attend_heads"), o.dropout));
  }
}

// scores_n = (q_n / c) k_n^T + added, blocked pairs -inf; p_n = softmax(scores_n); w_n = dropout(p_n); y_n = w_n v_n
// dv_n = w_n^T dy_n; dw_n = dy_n v_n^T; dp_n = dropout'(dw_n); ds_n = p_n (dp_n - rowsum(dp_n p_n));
// dq_n = (ds_n k_n) / c; dk_n = ds_n^T (q_n / c)
// Both public forms' forward, and their backward for recording: the query, keys and values as
// the views say, in `inputs`.
struct Recordable {
  Tensor output;
  BackwardFn backward;
};

Recordable attend_heads_in(const std::vector<Var>& inputs, const HeadShapes& n, const HeadView (&view)[3],
                           const HeadAttentionOptions& o) {
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
  const std::size_t ev = n.heads * n.dv;
  const HeadView out_view{0, n.l, n.dv, ev, 0, false};
  Tensor weights;  // p = softmax(scores) [B * heads, L, S], before dropout
  Tensor y = dispatch(inputs[0].dtype(), [&](auto zero) -> Tensor {
    using T = decltype(zero);
    constexpr T neg_inf = -std::numeric_limits<T>::infinity();
    const T* data[3];
    for (std::size_t i = 0; i < 3; ++i) data[i] = inputs[view[i].input].value().template array<T>().data();
    const T* added = o.added.defined() ? o.added.array<T>().data() : nullptr;
    Array<T> p = Array<T>::from_shape(scores_shape);
    Array<T> out = Array<T>::from_shape({n.batch, n.l, ev});
    std::vector<T> q_n, k_n, v_n, scores(n.l * n.s), w(drop ? n.l * n.s : 0), y_n(n.l * n.dv);
    for (std::size_t r = 0; r < n.rows(); ++r) {
      const std::size_t b = r / n.heads, h = r % n.heads;
      const T* q = read_head(view[0], data[0], b, h, n.heads, q_n, o.scale_divisor);
      const T* k = read_head(view[1], data[1], b, h, n.heads, k_n);
      const T* v = read_head(view[2], data[2], b, h, n.heads, v_n);
      gemm(false, true, n.l, n.s, n.d, q, k, false, scores.data());
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
      gemm(false, false, n.l, n.dv, n.s, used, v, false, y_n.data());
      write_head(out_view, y_n.data(), out.data(), b, h, n.heads);
    }
    weights = Tensor(std::move(p));
    return Tensor(std::move(out));
  });
  return {std::move(y), [weights = std::move(weights), keep = std::move(keep), keep_scale, n, drop,
                         divisor = o.scale_divisor, view = std::to_array(view), out_view](BackwardContext& c) {
            dispatch(c.input(0).dtype(), [&](auto zero) {
              using T = decltype(zero);
              const std::size_t block = n.l * n.s;
              const T* data[3];
              bool wanted[3];
              for (std::size_t i = 0; i < 3; ++i) {
                data[i] = c.input(view[i].input).template array<T>().data();
                wanted[i] = c.needs_grad(view[i].input);
              }
              // One gradient per input, each written whole by the views into it.
              std::vector<Array<T>> grads(c.num_inputs());
              for (std::size_t i = 0; i < c.num_inputs(); ++i) {
                grads[i] = Array<T>::from_shape(c.needs_grad(i) ? c.input(i).shape() : Shape{0});
              }
              const T* dy = c.grad_output().array<T>().data();
              const T* p_all = weights.array<T>().data();
              std::vector<T> q_n, k_n, v_n, dy_n, w(drop ? block : 0), dw(block), ds(block), dq_n(n.l * n.d),
                  dk_n(n.s * n.d), dv_n(n.s * n.dv);
              for (std::size_t r = 0; r < n.rows(); ++r) {
                const std::size_t b = r / n.heads, h = r % n.heads;
                const T* p = p_all + r * block;
                const bool* kept = drop ? keep.data() + r * block : nullptr;
                const T* used = p;
                if (drop) {
                  for (std::size_t i = 0; i < block; ++i) w[i] = kept[i] ? p[i] * T(keep_scale) : T(0);
                  used = w.data();
                }
                const T* dy_head = read_head(out_view, dy, b, h, n.heads, dy_n);
                if (wanted[2]) {
                  gemm(true, false, n.s, n.dv, n.l, used, dy_head, false, dv_n.data());
                  write_head(view[2], dv_n.data(), grads[view[2].input].data(), b, h, n.heads);
                }
                if (!wanted[0] && !wanted[1]) continue;
                const T* v = read_head(view[2], data[2], b, h, n.heads, v_n);
                gemm(false, true, n.l, n.s, n.dv, dy_head, v, false, dw.data());
                if (drop) {
                  for (std::size_t i = 0; i < block; ++i) dw[i] = kept[i] ? dw[i] * T(keep_scale) : T(0);
                }
                for (std::size_t i = 0; i < n.l; ++i) {
                  softmax_row_backward(p + i * n.s, dw.data() + i * n.s, ds.data() + i * n.s, n.s);
                }
                if (wanted[0]) {
                  const T* k = read_head(view[1], data[1], b, h, n.heads, k_n);
                  gemm(false, false, n.l, n.d, n.s, ds.data(), k, false, dq_n.data());
                  for (T& x : dq_n) x /= static_cast<T>(divisor);
                  write_head(view[0], dq_n.data(), grads[view[0].input].data(), b, h, n.heads);
                }
                if (wanted[1]) {
                  const T* q = read_head(view[0], data[0], b, h, n.heads, q_n, divisor);
                  gemm(true, false, n.s, n.d, n.l, ds.data(), q, false, dk_n.data());
                  write_head(view[1], dk_n.data(), grads[view[1].input].data(), b, h, n.heads);
                }
              }
              for (std::size_t i = 0; i < c.num_inputs(); ++i) {
                if (c.needs_grad(i)) c.grad_input(i) = Tensor(std::move(grads[i]));
              }
            });
          }};
}

}  // namespace

Var attend_heads(const Var& query, const Var& keys, const Var& values, const HeadAttentionOptions& o) {
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
  check_options(query, o);
  const HeadShapes n{q[0], o.heads, q[1], k[1], k[2], v[2]};
  const HeadView view[3] = {{0, n.l, n.d, q[2], 0, false}, {1, n.s, n.d, 0, 0, true}, {2, n.s, n.dv, 0, 0, true}};
  Recordable r = attend_heads_in({query, keys, values}, n, view, o);
  return record("attend_heads", {query, keys, values}, std::move(r.output), std::move(r.backward));
}

Var self_attend_heads(const Var& qkv, const HeadAttentionOptions& o) {
  kernel::check_defined("self_attend_heads", {{"qkv", qkv}});
  const Shape& x = qkv.shape();
  if (o.heads == 0 || x.size() != 3 || x[2] % (3 * o.heads) != 0) {
    throw ShapeError(fmt::format("{}: needs qkv [B, L, 3 * heads * d] with heads = {}, got {}",
                                 op_context("self_attend_heads"), o.heads, shape_str(x)));
  }
  check_options(qkv, o);
  const std::size_t e = x[2] / 3, d = e / o.heads;
  const HeadShapes n{x[0], o.heads, x[1], x[1], d, d};
  const HeadView view[3] = {{0, n.l, d, x[2], 0, false}, {0, n.l, d, x[2], e, false}, {0, n.l, d, x[2], 2 * e, false}};
  Recordable r = attend_heads_in({qkv}, n, view, o);
  return record("self_attend_heads", {qkv}, std::move(r.output), std::move(r.backward));
}

}  // namespace tg
