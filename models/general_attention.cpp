#include "tapegrad/models/general_attention.hpp"

#include <cmath>

#include "tapegrad/models/init.hpp"
#include "tapegrad/ops/linalg.hpp"
#include "tapegrad/ops/shape.hpp"

namespace tg {

GeneralAttention::GeneralAttention(const AttentionOptions& options, Generator& gen) : Attention(options) {
  require_kind({AttentionKind::general});
  const double bound = 1.0 / std::sqrt(static_cast<double>(options.key_size));
  register_parameter("weight", weight,
                     init::uniform({options.query_size, options.key_size}, -bound, bound, gen, options.dtype));
}

AttentionMemory GeneralAttention::prepare(const Var& keys, const Var& values, const Mask& padding) const {
  check_memory_inputs(keys, values, padding);
  AttentionMemory memory;
  memory.keys = matmul(keys, weight, false, true);  // [B, S, Hq], one gemm over [B*S, Hk]
  memory.values = values;
  memory.padding = padding;
  memory.score_padding = masks_nothing(padding) ? Mask() : padding;
  memory.batch = keys.shape()[0];
  return memory;
}

AttentionResult GeneralAttention::attend(const AttentionMemory& memory, const Var& query) const {
  check_query(memory, query);
  const std::size_t b = memory.batch, s = memory.keys.shape()[1];
  Var scores = matmul(reshape(query, Shape{b, 1, options_.query_size}), memory.keys, false, true);  // [B, 1, S]
  return weigh_values(reshape(scores, Shape{b, s}), memory);
}

}  // namespace tg
