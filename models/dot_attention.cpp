#include "tapegrad/models/dot_attention.hpp"

#include <cmath>

#include <fmt/format.h>

#include "tapegrad/ops/elementwise.hpp"
#include "tapegrad/ops/linalg.hpp"
#include "tapegrad/ops/shape.hpp"

namespace tg {

DotAttention::DotAttention(const AttentionOptions& options, Generator&) : Attention(options) {
  require_kind({AttentionKind::dot, AttentionKind::scaled_dot});
  if (options.query_size != options.key_size) {
    throw Error(
        fmt::format("{}: query_size ({}) must equal key_size ({})", label(), options.query_size, options.key_size));
  }
}

AttentionMemory DotAttention::prepare(const Var& keys, const Var& values, const Mask& padding) const {
  check_memory_inputs(keys, values, padding);
  AttentionMemory memory;
  memory.keys = keys;
  memory.values = values;
  memory.padding = padding;
  memory.score_padding = masks_nothing(padding) ? Mask() : padding;
  memory.batch = keys.shape()[0];
  return memory;
}

AttentionResult DotAttention::attend(const AttentionMemory& memory, const Var& query) const {
  check_query(memory, query);
  const std::size_t b = memory.batch, s = memory.keys.shape()[1];
  Var scores = matmul(reshape(query, Shape{b, 1, options_.query_size}), memory.keys, false, true);  // [B, 1, S]
  if (scaled()) scores = scores / std::sqrt(static_cast<double>(options_.key_size));
  return weigh_values(reshape(scores, Shape{b, s}), memory);
}

}  // namespace tg
