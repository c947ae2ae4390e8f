#include "tapegrad/ops/rnn.hpp"

#include <cmath>
#include <type_traits>

#include <fmt/format.h>

#include "tapegrad/kernels/fast_math.hpp"
#include "tapegrad/ops/kernel.hpp"

// Each op keeps the activations its forward computed (sigmoids and tanhs) for
// its backward, as the composed ops would keep their outputs: recomputing them
// doubled the transcendental work and made the fused cells slower than the
// dozen small ops they replace. The kept tensors are the size of the gates.
// Each row runs its sigmoids, its tanhs and its arithmetic as separate loops, so
// that each vectorises; float uses the branch-free exp of fast_math.hpp, whose
// array functions are compiled for the CPU's widest vectors.

namespace tg {
namespace {

using fast::sigmoid;

// gates [B, k*H] and each state [B, H] of one dtype; returns (B, H).
std::pair<std::size_t, std::size_t> check_cell(const char* op, std::size_t k, const Var& gates,
                                               std::initializer_list<const Var*> states) {
  const Shape& g = gates.shape();
  const Var& first = **states.begin();
  bool ok = g.size() == 2 && first.dim() == 2 && g[1] == k * first.shape()[1] && g[0] == first.shape()[0];
  for (const Var* s : states) ok = ok && s->shape() == first.shape() && s->dtype() == gates.dtype();
  if (!ok) {
    std::string shapes;
    for (const Var* s : states) shapes += ", " + shape_str(s->shape());
    throw ShapeError(fmt::format("{}: needs gates [B, {}H] and states [B, H] of one dtype, got gates {}{}",
                                 op_context(op), k, shape_str(g), shapes));
  }
  return {g[0], first.shape()[1]};
}

}  // namespace

// y = s(f) c + s(i) tanh(g)
// dgates_i = dy tanh(g) s(i)(1 - s(i)); dgates_f = dy c s(f)(1 - s(f));
// dgates_g = dy s(i)(1 - tanh(g)^2); dgates_o = 0; dc = dy s(f)
Var lstm_cell_state(const Var& gates, const Var& c) {
  kernel::check_defined("lstm_cell_state", {{"gates", gates}, {"c", c}});
  auto [batch, hidden] = check_cell("lstm_cell_state", 4, gates, {&c});
  Tensor act;  // [B, 3H]: s(i) | s(f) | tanh(g)
  Tensor y = dispatch(gates.dtype(), [&, batch = batch, hidden = hidden](auto zero) -> Tensor {
    using T = decltype(zero);
    Array<T> out = Array<T>::from_shape({batch, hidden});
    Array<T> a = Array<T>::from_shape({batch, 3 * hidden});
    const T* gp = gates.value().array<T>().data();
    const T* cp = c.value().array<T>().data();
    for (std::size_t b = 0; b < batch; ++b) {
      const T* row = gp + b * 4 * hidden;
      T* arow = a.data() + b * 3 * hidden;
      fast::sigmoid(row, arow, 2 * hidden);
      fast::tanh(row + 2 * hidden, arow + 2 * hidden, hidden);
      for (std::size_t j = 0; j < hidden; ++j)
        out.data()[b * hidden + j] = arow[hidden + j] * cp[b * hidden + j] + arow[j] * arow[2 * hidden + j];
    }
    act = Tensor(std::move(a));
    return Tensor(std::move(out));
  });
  return record("lstm_cell_state", {gates, c}, std::move(y),
                [act = std::move(act), batch = batch, hidden = hidden](BackwardContext& ctx) {
                  dispatch(ctx.input(0).dtype(), [&](auto zero) {
                    using T = decltype(zero);
                    const T* ap = act.array<T>().data();
                    const T* cp = ctx.input(1).array<T>().data();
                    const T* dy = ctx.grad_output().array<T>().data();
                    if (ctx.needs_grad(0)) {
                      // lstm_cell_output's backward (later on the tape) has usually
                      // gathered the o part already: add the other three into it.
                      kernel::GradTarget<T> dgates(ctx, 0);
                      T* base = dgates.data();
                      auto write = [&](auto accumulate) {
                        for (std::size_t b = 0; b < batch; ++b) {
                          const T* arow = ap + b * 3 * hidden;
                          T* drow = base + b * 4 * hidden;
                          for (std::size_t j = 0; j < hidden; ++j) {
                            const T i = arow[j], f = arow[hidden + j], g = arow[2 * hidden + j];
                            const T d = dy[b * hidden + j];
                            const T di = d * g * i * (T(1) - i), df = d * cp[b * hidden + j] * f * (T(1) - f),
                                    dg = d * i * (T(1) - g * g);
                            if constexpr (decltype(accumulate)::value) {
                              drow[j] += di;
                              drow[hidden + j] += df;
                              drow[2 * hidden + j] += dg;
                            } else {
                              drow[j] = di;
                              drow[hidden + j] = df;
                              drow[2 * hidden + j] = dg;
                              drow[3 * hidden + j] = T(0);
                            }
                          }
                        }
                      };
                      if (dgates.accumulate())
                        write(std::true_type{});
                      else
                        write(std::false_type{});
                      dgates.finish(ctx, 0, false);
                    }
                    if (ctx.needs_grad(1)) {
                      Array<T> dc = Array<T>::from_shape({batch, hidden});
                      for (std::size_t b = 0; b < batch; ++b)
                        for (std::size_t j = 0; j < hidden; ++j)
                          dc.data()[b * hidden + j] = dy[b * hidden + j] * ap[b * 3 * hidden + hidden + j];
                      ctx.grad_input(1) = Tensor(std::move(dc));
                    }
                  });
                });
}

// y = s(o) tanh(c'); dgates_o = dy tanh(c') s(o)(1 - s(o)), other gates 0; dc' = dy s(o)(1 - tanh(c')^2)
Var lstm_cell_output(const Var& gates, const Var& c_next) {
  kernel::check_defined("lstm_cell_output", {{"gates", gates}, {"c_next", c_next}});
  auto [batch, hidden] = check_cell("lstm_cell_output", 4, gates, {&c_next});
  Tensor act;  // [B, 2H]: s(o) | tanh(c')
  Tensor y = dispatch(gates.dtype(), [&, batch = batch, hidden = hidden](auto zero) -> Tensor {
    using T = decltype(zero);
    Array<T> out = Array<T>::from_shape({batch, hidden});
    Array<T> a = Array<T>::from_shape({batch, 2 * hidden});
    const T* gp = gates.value().array<T>().data();
    const T* cp = c_next.value().array<T>().data();
    for (std::size_t b = 0; b < batch; ++b) {
      const T* o = gp + b * 4 * hidden + 3 * hidden;
      T* arow = a.data() + b * 2 * hidden;
      fast::sigmoid(o, arow, hidden);
      fast::tanh(cp + b * hidden, arow + hidden, hidden);
      for (std::size_t j = 0; j < hidden; ++j) out.data()[b * hidden + j] = arow[j] * arow[hidden + j];
    }
    act = Tensor(std::move(a));
    return Tensor(std::move(out));
  });
  return record("lstm_cell_output", {gates, c_next}, std::move(y),
                [act = std::move(act), batch = batch, hidden = hidden](BackwardContext& ctx) {
                  dispatch(ctx.input(0).dtype(), [&](auto zero) {
                    using T = decltype(zero);
                    const T* ap = act.array<T>().data();
                    const T* dy = ctx.grad_output().array<T>().data();
                    Array<T> dgates = Array<T>::from_shape({batch, 4 * hidden});
                    Array<T> dc = Array<T>::from_shape({batch, hidden});
                    for (std::size_t b = 0; b < batch; ++b) {
                      const T* arow = ap + b * 2 * hidden;
                      T* drow = dgates.data() + b * 4 * hidden;
                      std::fill(drow, drow + 3 * hidden, T(0));
                      for (std::size_t j = 0; j < hidden; ++j) {
                        const T s = arow[j], t = arow[hidden + j], d = dy[b * hidden + j];
                        drow[3 * hidden + j] = d * t * s * (T(1) - s);
                        dc.data()[b * hidden + j] = d * s * (T(1) - t * t);
                      }
                    }
                    if (ctx.needs_grad(0)) ctx.grad_input(0) = Tensor(std::move(dgates));
                    if (ctx.needs_grad(1)) ctx.grad_input(1) = Tensor(std::move(dc));
                  });
                });
}

// y = (1 - z) n + z h with r = s(xr + hr), z = s(xz + hz), n = tanh(xn + r hn)
// dn = dy (1 - z); dpre_n = dn (1 - n^2); dxn = dpre_n; dhn = dpre_n r;
// dpre_r = dpre_n hn r (1 - r): dxr = dhr = dpre_r; dpre_z = dy (h - n) z (1 - z): dxz = dhz = dpre_z; dh = dy z
Var gru_cell(const Var& x_gates, const Var& h_gates, const Var& h) {
  kernel::check_defined("gru_cell", {{"x_gates", x_gates}, {"h_gates", h_gates}, {"h", h}});
  auto [batch, hidden] = check_cell("gru_cell", 3, x_gates, {&h});
  if (h_gates.shape() != x_gates.shape() || h_gates.dtype() != x_gates.dtype()) {
    throw ShapeError(fmt::format("{}: x_gates {} and h_gates {} must have one shape and dtype", op_context("gru_cell"),
                                 shape_str(x_gates.shape()), shape_str(h_gates.shape())));
  }
  Tensor act;  // [B, 3H]: r | z | n
  Tensor y = dispatch(x_gates.dtype(), [&, batch = batch, hidden = hidden](auto zero) -> Tensor {
    using T = decltype(zero);
    Array<T> out = Array<T>::from_shape({batch, hidden});
    Array<T> a = Array<T>::from_shape({batch, 3 * hidden});
    const T* xp = x_gates.value().array<T>().data();
    const T* hp = h_gates.value().array<T>().data();
    const T* prev = h.value().array<T>().data();
    for (std::size_t b = 0; b < batch; ++b) {
      const T* xr = xp + b * 3 * hidden;
      const T* hr = hp + b * 3 * hidden;
      T* arow = a.data() + b * 3 * hidden;
      for (std::size_t j = 0; j < 2 * hidden; ++j) arow[j] = sigmoid(xr[j] + hr[j]);
      for (std::size_t j = 0; j < hidden; ++j)
        arow[2 * hidden + j] = fast::tanh(xr[2 * hidden + j] + arow[j] * hr[2 * hidden + j]);
      for (std::size_t j = 0; j < hidden; ++j) {
        const T z = arow[hidden + j], n = arow[2 * hidden + j];
        out.data()[b * hidden + j] = n + z * (prev[b * hidden + j] - n);  // (1 - z) n + z h, as PyTorch's kernel
      }
    }
    act = Tensor(std::move(a));
    return Tensor(std::move(out));
  });
  return record("gru_cell", {x_gates, h_gates, h}, std::move(y),
                [act = std::move(act), batch = batch, hidden = hidden](BackwardContext& ctx) {
                  dispatch(ctx.input(0).dtype(), [&](auto zero) {
                    using T = decltype(zero);
                    const T* ap = act.array<T>().data();
                    const T* hp = ctx.input(1).array<T>().data();
                    const T* prev = ctx.input(2).array<T>().data();
                    const T* dy = ctx.grad_output().array<T>().data();
                    // dx_gates equals dh_gates but in the n gate, where dh_gates has the extra factor r.
                    Array<T> dhg = Array<T>::from_shape({batch, 3 * hidden});
                    Array<T> dx = Array<T>::from_shape({batch, 3 * hidden});
                    Array<T> dh = Array<T>::from_shape({batch, hidden});
                    for (std::size_t b = 0; b < batch; ++b) {
                      const T* arow = ap + b * 3 * hidden;
                      const T* hr = hp + b * 3 * hidden;
                      T* dhr = dhg.data() + b * 3 * hidden;
                      T* dxr = dx.data() + b * 3 * hidden;
                      for (std::size_t j = 0; j < hidden; ++j) {
                        const T r = arow[j], z = arow[hidden + j], n = arow[2 * hidden + j];
                        const T d = dy[b * hidden + j], hprev = prev[b * hidden + j];
                        const T dpre_n = d * (T(1) - z) * (T(1) - n * n);
                        dxr[j] = dhr[j] = dpre_n * hr[2 * hidden + j] * r * (T(1) - r);
                        dxr[hidden + j] = dhr[hidden + j] = d * (hprev - n) * z * (T(1) - z);
                        dxr[2 * hidden + j] = dpre_n;
                        dhr[2 * hidden + j] = dpre_n * r;
                        dh.data()[b * hidden + j] = d * z;
                      }
                    }
                    if (ctx.needs_grad(0)) ctx.grad_input(0) = Tensor(std::move(dx));
                    if (ctx.needs_grad(1)) ctx.grad_input(1) = Tensor(std::move(dhg));
                    if (ctx.needs_grad(2)) ctx.grad_input(2) = Tensor(std::move(dh));
                  });
                });
}

}  // namespace tg
