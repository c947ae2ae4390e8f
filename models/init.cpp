#include "tapegrad/models/init.hpp"

#include <cmath>
#include <numbers>

#include <fmt/format.h>

namespace tg::init {

Tensor uniform(const Shape& shape, double low, double high, Generator& gen, DType dtype) {
  Tensor t = Tensor::empty(shape, dtype);
  dispatch(dtype, [&](auto zero) {
    using T = decltype(zero);
    for (T& x : t.array<T>()) x = static_cast<T>(low + (high - low) * gen.uniform());
  });
  return t;
}

Tensor normal(const Shape& shape, double mean, double stddev, Generator& gen, DType dtype) {
  Tensor t = Tensor::empty(shape, dtype);
  dispatch(dtype, [&](auto zero) {
    using T = decltype(zero);
    for (T& x : t.array<T>()) {
      double u1 = 1.0 - gen.uniform();  // in (0, 1]: log is finite
      double u2 = gen.uniform();
      x = static_cast<T>(mean + stddev * std::sqrt(-2.0 * std::log(u1)) * std::cos(2 * std::numbers::pi * u2));
    }
  });
  return t;
}

Tensor xavier_uniform(const Shape& shape, Generator& gen, DType dtype) {
  if (shape.size() != 2) {
    throw ShapeError(fmt::format("init::xavier_uniform: needs a [fan_out, fan_in] shape, got {}", shape_str(shape)));
  }
  double a = std::sqrt(6.0 / static_cast<double>(shape[0] + shape[1]));
  return uniform(shape, -a, a, gen, dtype);
}

}  // namespace tg::init
