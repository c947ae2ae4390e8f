#include "tapegrad/models/decoding_model.hpp"

#include <algorithm>

#include <fmt/format.h>

namespace tg {

std::string ids_shape_str(const Indices& ids) {
  Shape shape(ids.shape().size());
  std::copy(ids.shape().begin(), ids.shape().end(), shape.begin());
  return shape_str(shape);
}

std::vector<std::int64_t> checked_source_lengths(const Indices& source, const std::vector<std::int64_t>& lengths,
                                                 std::int64_t pad_id, const char* who) {
  if (source.dimension() != 2 || source.shape()[0] == 0 || source.shape()[1] == 0) {
    throw ShapeError(fmt::format("{}: source must be [B, S] with B, S >= 1, got {}", who, ids_shape_str(source)));
  }
  const std::size_t batch = source.shape()[0], steps = source.shape()[1];
  if (lengths.empty()) {
    std::vector<std::int64_t> counted(batch, 0);
    for (std::size_t b = 0; b < batch; ++b) {
      for (std::size_t s = 0; s < steps; ++s) {
        if (source(b, s) != pad_id) counted[b] = static_cast<std::int64_t>(s) + 1;
      }
      if (counted[b] == 0) {
        throw Error(
            fmt::format("{}: source row {} of {} is all padding (pad_id {})", who, b, ids_shape_str(source), pad_id));
      }
    }
    return counted;
  }
  if (lengths.size() != batch) {
    throw ShapeError(fmt::format("{}: {} lengths for a source of batch size {}", who, lengths.size(), batch));
  }
  for (std::size_t b = 0; b < batch; ++b) {
    if (lengths[b] < 1 || lengths[b] > static_cast<std::int64_t>(steps)) {
      throw IndexError(
          fmt::format("{}: lengths[{}] = {} is outside [1, {}] (source length)", who, b, lengths[b], steps));
    }
  }
  return lengths;
}

}  // namespace tg
