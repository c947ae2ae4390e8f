#include "tapegrad/ops/attention.hpp"

#include <algorithm>
#include <cmath>
#include <optional>
#include <type_traits>
#include <vector>

#include <fmt/format.h>

#include "tapegrad/autodiff/mode.hpp"
#include "tapegrad/kernels/blas.hpp"
#include "tapegrad/kernels/fast_math.hpp"
#include "tapegrad/ops/kernel.hpp"

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

}  // namespace tg
