#include "tapegrad/optim/clip.hpp"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

namespace tg {

namespace {

// The p-norm of one gradient, accumulated in double whatever its dtype.
double grad_norm(const Tensor& g, double norm_type) {
  return dispatch(g.dtype(), [&](auto zero) {
    using T = decltype(zero);
    const T* data = g.array<T>().data();
    double acc = 0;
    for (std::size_t i = 0; i < g.size(); ++i) {
      const double a = std::abs(static_cast<double>(data[i]));
      if (std::isinf(norm_type)) {
        if (std::isnan(a) || a > acc) acc = a;  // NaN propagates, as torch's max does
      } else if (norm_type == 2) {
        acc += a * a;
      } else if (norm_type == 1) {
        acc += a;
      } else {
        acc += std::pow(a, norm_type);
      }
    }
    if (std::isinf(norm_type) || norm_type == 1) return acc;
    return norm_type == 2 ? std::sqrt(acc) : std::pow(acc, 1 / norm_type);
  });
}

}  // namespace

GradNorm clip_grad_norm(const std::vector<Var>& params, double max_norm, double norm_type) {
  if (!(max_norm >= 0)) throw Error(fmt::format("clip_grad_norm: invalid max_norm = {}; it must be >= 0", max_norm));
  if (!(norm_type > 0)) throw Error(fmt::format("clip_grad_norm: invalid norm_type = {}; it must be > 0", norm_type));
  // torch: the norm of the per-parameter norms.
  std::vector<double> norms;
  for (const Var& p : params) {
    if (p.defined() && p.grad().defined()) norms.push_back(grad_norm(p.grad(), norm_type));
  }
  GradNorm result;
  if (norms.empty()) return result;
  double total = 0;
  for (double n : norms) {
    if (std::isinf(norm_type)) {
      if (std::isnan(n) || n > total) total = n;
    } else {
      total += std::pow(n, norm_type);
    }
  }
  if (!std::isinf(norm_type)) total = norm_type == 2 ? std::sqrt(total) : std::pow(total, 1 / norm_type);
  result.total_norm = total;
  result.finite = std::isfinite(total);
  if (!result.finite) return result;
  const double coef = max_norm / (total + 1e-6);
  if (coef >= 1) return result;
  result.scale = coef;
  for (const Var& p : params) {
    if (!p.defined() || !p.grad().defined()) continue;
    Var handle = p;  // a handle to the same node, whose gradient we change
    Tensor& g = handle.grad();
    dispatch(g.dtype(), [&](auto zero) {
      using T = decltype(zero);
      const T c = static_cast<T>(coef);
      T* data = g.array<T>().data();
      for (std::size_t i = 0; i < g.size(); ++i) data[i] = data[i] * c;
    });
  }
  return result;
}

void clip_grad_value(const std::vector<Var>& params, double clip) {
  if (!(clip >= 0)) throw Error(fmt::format("clip_grad_value: invalid clip = {}; it must be >= 0", clip));
  for (const Var& p : params) {
    if (!p.defined() || !p.grad().defined()) continue;
    Var handle = p;  // a handle to the same node, whose gradient we change
    Tensor& g = handle.grad();
    dispatch(g.dtype(), [&](auto zero) {
      using T = decltype(zero);
      const T low = static_cast<T>(-clip);
      const T high = static_cast<T>(clip);
      T* data = g.array<T>().data();
      for (std::size_t i = 0; i < g.size(); ++i) {
        if (data[i] < low) data[i] = low;
        if (data[i] > high) data[i] = high;
      }
    });
  }
}

}  // namespace tg
