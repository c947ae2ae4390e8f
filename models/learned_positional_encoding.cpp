#include "tapegrad/models/learned_positional_encoding.hpp"

#include <cmath>

#include <fmt/format.h>

#include "tapegrad/models/init.hpp"
#include "tapegrad/ops/elementwise.hpp"
#include "tapegrad/ops/shape.hpp"

namespace tg {

LearnedPositionalEncoding::LearnedPositionalEncoding(const PositionalEncodingOptions& options, Generator& gen)
    : PositionalEncoding(PositionalEncodingOptions{.kind = PositionalKind::learned,
                                                   .d_model = options.d_model,
                                                   .max_length = options.max_length,
                                                   .dtype = options.dtype}) {
  const double stddev = 1.0 / std::sqrt(static_cast<double>(options.d_model));
  register_parameter("weight", weight,
                     init::normal({options.max_length, options.d_model}, 0.0, stddev, gen, options.dtype));
}

Var LearnedPositionalEncoding::forward(const Var& x, std::size_t offset) const {
  check_input(x, "LearnedPositionalEncoding");
  const std::size_t length = x.shape()[x.dim() - 2], last = offset + length - 1;
  if (last >= options_.max_length) {
    throw IndexError(fmt::format("LearnedPositionalEncoding: position {} is past the last one, {} (max_length {})",
                                 last, options_.max_length - 1, options_.max_length));
  }
  return x + slice(weight, 0, static_cast<long>(offset), static_cast<long>(offset + length));
}

}  // namespace tg
