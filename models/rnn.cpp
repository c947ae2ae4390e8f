#include "tapegrad/models/rnn.hpp"

#include <cmath>

namespace tg::detail {

double rnn_init_bound(std::size_t hidden_size) {
  return hidden_size > 0 ? 1.0 / std::sqrt(static_cast<double>(hidden_size)) : 0.0;
}

[[noreturn]] void throw_bad_argument(bool shape_fits, const std::string& message) {
  if (shape_fits) throw DTypeError(message);
  throw ShapeError(message);
}

}  // namespace tg::detail
