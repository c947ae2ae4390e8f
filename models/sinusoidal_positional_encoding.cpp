#include "tapegrad/models/sinusoidal_positional_encoding.hpp"

#include <cmath>
#include <vector>

#include "tapegrad/ops/elementwise.hpp"

namespace tg {

SinusoidalPositionalEncoding::SinusoidalPositionalEncoding(const PositionalEncodingOptions& options, Generator&)
    : PositionalEncoding(PositionalEncodingOptions{.kind = PositionalKind::sinusoidal,
                                                   .d_model = options.d_model,
                                                   .max_length = options.max_length,
                                                   .dtype = options.dtype}) {}

Tensor SinusoidalPositionalEncoding::table(std::size_t offset, std::size_t length, DType dtype) const {
  const std::size_t d = options_.d_model;
  std::vector<double> values(length * d);
  for (std::size_t c = 0; c < d; c += 2) {
    const double frequency = 1.0 / std::pow(10000.0, static_cast<double>(c) / static_cast<double>(d));
    for (std::size_t l = 0; l < length; ++l) {
      const double angle = static_cast<double>(offset + l) * frequency;
      values[l * d + c] = std::sin(angle);
      if (c + 1 < d) values[l * d + c + 1] = std::cos(angle);
    }
  }
  return Tensor::from_vector(values, {length, d}, dtype);
}

Var SinusoidalPositionalEncoding::forward(const Var& x, std::size_t offset) const {
  check_input(x, "SinusoidalPositionalEncoding");
  return x + Var(table(offset, x.shape()[x.dim() - 2], x.dtype()));
}

}  // namespace tg
