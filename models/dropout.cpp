#include "tapegrad/models/dropout.hpp"

#include <fmt/format.h>

namespace tg {

Dropout::Dropout(const DropoutOptions& options, Generator&) : options_(options) {
  if (!(options.p >= 0.0 && options.p <= 1.0)) throw Error(fmt::format("Dropout: p = {} is outside [0, 1]", options.p));
}

}  // namespace tg
