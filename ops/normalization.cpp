#include "tapegrad/ops/normalization.hpp"

#include <algorithm>
#include <cmath>
#include <string>
#include <tuple>
#include <vector>

#include <fmt/format.h>

#include "tapegrad/ops/kernel.hpp"

namespace tg {
namespace {

// x as [rows, n]: the trailing dims normalized_shape hold n contiguous elements per row.
struct RowLayout {
  std::size_t rows = 0, n = 0;
};

// The shapes layer_norm accepts, checked before any work: errors name the op, the argument and the shapes.
RowLayout check_layer_norm(const Var& x, const Shape& normalized_shape, const Var& weight, const Var& bias) {
  const Shape& shape = x.shape();
  const std::size_t k = normalized_shape.size();
  if (k == 0 || k > shape.size() || !std::equal(normalized_shape.begin(), normalized_shape.end(), shape.end() - k)) {
    throw ShapeError(fmt::format("{}: x {} must end in normalized_shape {}{}", op_context("layer_norm"),
                                 shape_str(shape), shape_str(normalized_shape),
                                 k == 0 ? " (which must name at least one dim)" : ""));
  }
  for (const auto& [name, param] : {std::pair<const char*, const Var&>{"weight", weight}, {"bias", bias}}) {
    if (!param.defined()) continue;
    if (param.shape() != normalized_shape) {
      throw ShapeError(fmt::format("{}: {} {} must have normalized_shape {}", op_context("layer_norm"), name,
                                   shape_str(param.shape()), shape_str(normalized_shape)));
    }
    if (param.dtype() != x.dtype()) {
      throw DTypeError(fmt::format("{}: {} {} is {} but x {} is {}", op_context("layer_norm"), name,
                                   shape_str(param.shape()), dtype_name(param.dtype()), shape_str(shape),
                                   dtype_name(x.dtype())));
    }
  }
  RowLayout layout{1, 1};
  for (std::size_t d = 0; d < shape.size(); ++d) (d < shape.size() - k ? layout.rows : layout.n) *= shape[d];
  return layout;
}

// Per row, in double: the mean and 1 / sqrt(var + eps), which the backward reuses.
struct RowMoments {
  std::vector<double> mean, rstd;
};

template <class T>
Tensor layer_norm_forward(const Tensor& x, const Tensor* weight, const Tensor* bias, double eps,
                          const RowLayout& layout, RowMoments& moments) {
  const std::size_t n = layout.n;
  const T* in = x.array<T>().data();
  const T* w = weight ? weight->array<T>().data() : nullptr;
  const T* b = bias ? bias->array<T>().data() : nullptr;
  Array<T> y_array = Array<T>::from_shape(x.shape());
  T* y = y_array.data();
  moments.mean.resize(layout.rows);
  moments.rstd.resize(layout.rows);
  for (std::size_t r = 0; r < layout.rows; ++r) {
    const T* xr = in + r * n;
    T* yr = y + r * n;
    const double mean = kernel::sum_in_double(n, [&](std::size_t i) { return static_cast<double>(xr[i]); }) / n;
    const double var = kernel::sum_in_double(n,
                                             [&](std::size_t i) {
                                               const double centered = xr[i] - mean;
                                               return centered * centered;
                                             }) /
                       n;
    const double rstd = 1.0 / std::sqrt(var + eps);
    moments.mean[r] = mean;
    moments.rstd[r] = rstd;
    for (std::size_t i = 0; i < n; ++i) {
      const double xhat = (xr[i] - mean) * rstd;
      yr[i] = kernel::narrow<T>((w ? xhat * w[i] : xhat) + (b ? static_cast<double>(b[i]) : 0.0));
    }
  }
  return Tensor(std::move(y_array));
}

// gathered + value, rounded once; value alone into a fresh gradient.
template <class T>
void add_to(T& slot, double value, bool accumulate) {
  slot = kernel::narrow<T>(accumulate ? slot + value : value);
}

// The backward below, for one dtype: inputs x (0), then weight and bias where given.
template <class T>
void layer_norm_backward(BackwardContext& c, const RowLayout& layout, const RowMoments& moments, int weight_input,
                         int bias_input) {
  const std::size_t n = layout.n;
  const T* x = c.input(0).array<T>().data();
  const T* w = weight_input >= 0 ? c.input(weight_input).array<T>().data() : nullptr;
  const T* dy = c.grad_output().array<T>().data();
  if (c.needs_grad(0)) {
    kernel::GradTarget<T> target(c, 0);
    T* dx = target.data();
    for (std::size_t r = 0; r < layout.rows; ++r) {
      const T* xr = x + r * n;
      const T* gr = dy + r * n;
      T* dxr = dx + r * n;
      const double mean = moments.mean[r], rstd = moments.rstd[r];
      auto scaled_grad = [&](std::size_t i) { return w ? static_cast<double>(gr[i]) * w[i] : gr[i]; };
      auto xhat = [&](std::size_t i) { return (xr[i] - mean) * rstd; };
      const double grad_mean = kernel::sum_in_double(n, scaled_grad) / n;
      const double grad_xhat_mean =
          kernel::sum_in_double(n, [&](std::size_t i) { return scaled_grad(i) * xhat(i); }) / n;
      for (std::size_t i = 0; i < n; ++i)
        add_to(dxr[i], rstd * (scaled_grad(i) - grad_mean - xhat(i) * grad_xhat_mean), target.accumulate());
    }
    target.finish(c, 0, false);
  }
  // dweight and dbias: sums over rows, one double per column.
  const bool weight_grad = weight_input >= 0 && c.needs_grad(weight_input);
  const bool bias_grad = bias_input >= 0 && c.needs_grad(bias_input);
  if (!weight_grad && !bias_grad) return;
  std::vector<double> dweight(weight_grad ? n : 0, 0.0), dbias(bias_grad ? n : 0, 0.0);
  for (std::size_t r = 0; r < layout.rows; ++r) {
    const T* xr = x + r * n;
    const T* gr = dy + r * n;
    const double mean = moments.mean[r], rstd = moments.rstd[r];
    if (weight_grad)
      for (std::size_t i = 0; i < n; ++i) dweight[i] += static_cast<double>(gr[i]) * ((xr[i] - mean) * rstd);
    if (bias_grad)
      for (std::size_t i = 0; i < n; ++i) dbias[i] += gr[i];
  }
  for (const auto& [input, wanted, sums] :
       {std::tuple<int, bool, const std::vector<double>&>{weight_input, weight_grad, dweight},
        {bias_input, bias_grad, dbias}}) {
    if (!wanted) continue;
    kernel::GradTarget<T> target(c, input);
    for (std::size_t i = 0; i < n; ++i) add_to(target.data()[i], sums[i], target.accumulate());
    target.finish(c, input, false);
  }
}

}  // namespace

// y = xhat * w + b, xhat = (x - mean) * rstd, rstd = 1 / sqrt(var + eps), per row of n;
// g = dy * w:  dx = rstd * (g - mean(g) - xhat * mean(g * xhat));  dw = sum_rows(dy * xhat);  db = sum_rows(dy)
Var layer_norm(const Var& x, const Shape& normalized_shape, const Var& weight, const Var& bias, double eps) {
  kernel::check_defined("layer_norm", {{"x", x}});
  const RowLayout layout = check_layer_norm(x, normalized_shape, weight, bias);
  std::vector<Var> inputs{x};
  const int weight_input = weight.defined() ? static_cast<int>(inputs.size()) : -1;
  if (weight.defined()) inputs.push_back(weight);
  const int bias_input = bias.defined() ? static_cast<int>(inputs.size()) : -1;
  if (bias.defined()) inputs.push_back(bias);
  RowMoments moments;
  Tensor y = dispatch(x.dtype(), [&](auto zero) -> Tensor {
    using T = decltype(zero);
    return layer_norm_forward<T>(x.value(), weight.defined() ? &weight.value() : nullptr,
                                 bias.defined() ? &bias.value() : nullptr, eps, layout, moments);
  });
  return record("layer_norm", inputs, std::move(y),
                [layout, moments = std::move(moments), weight_input, bias_input](BackwardContext& c) {
                  dispatch(c.output().dtype(), [&](auto zero) {
                    layer_norm_backward<decltype(zero)>(c, layout, moments, weight_input, bias_input);
                  });
                });
}

}  // namespace tg
