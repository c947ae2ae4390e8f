#include "tapegrad/models/additive_attention.hpp"

#include <cmath>

#include "tapegrad/models/init.hpp"
#include "tapegrad/ops/attention.hpp"
#include "tapegrad/ops/linalg.hpp"

namespace tg {
namespace {

std::size_t resolved_attention_size(const AttentionOptions& o) {
  return o.attention_size != 0 ? o.attention_size : o.key_size;
}

}  // namespace

AdditiveAttention::AdditiveAttention(const AttentionOptions& options, Generator& gen)
    : Attention(options),
      query_proj({.in_features = options.query_size,
                  .out_features = resolved_attention_size(options),
                  .bias = true,
                  .dtype = options.dtype},
                 gen),
      key_proj({.in_features = options.key_size,
                .out_features = resolved_attention_size(options),
                .bias = false,
                .dtype = options.dtype},
               gen) {
  require_kind({AttentionKind::additive});
  const std::size_t a = resolved_attention_size(options);
  const double bound = 1.0 / std::sqrt(static_cast<double>(a));
  register_parameter("v", v, init::uniform({a}, -bound, bound, gen, options.dtype));
  register_module("query_proj", query_proj);
  register_module("key_proj", key_proj);
}

AttentionMemory AdditiveAttention::prepare(const Var& keys, const Var& values, const Mask& padding) const {
  check_memory_inputs(keys, values, padding);
  AttentionMemory memory;
  memory.keys = matmul(keys, key_proj.weight, false, true);  // [B, S, A], one gemm over [B*S, Hk]
  memory.values = values;
  memory.padding = padding;
  memory.score_padding = masks_nothing(padding) ? Mask() : padding;
  memory.batch = keys.shape()[0];
  return memory;
}

AttentionResult AdditiveAttention::attend(const AttentionMemory& memory, const Var& query) const {
  check_query(memory, query);
  // v . tanh(keys + q) in one pass (ops/attention.hpp): [B, S]
  return weigh_values(additive_scores(memory.keys, query_proj.forward(query), v), memory);
}

}  // namespace tg
