#include "tapegrad/models/multi_head_attention.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include <fmt/format.h>

#include "tapegrad/models/init.hpp"
#include "tapegrad/ops/elementwise.hpp"
#include "tapegrad/ops/index.hpp"
#include "tapegrad/ops/linalg.hpp"
#include "tapegrad/ops/reduce.hpp"
#include "tapegrad/ops/shape.hpp"
#include "tapegrad/ops/softmax.hpp"

namespace tg {
namespace {

enum Projection : std::size_t { query_rows = 0, key_rows = 1, value_rows = 2 };

}  // namespace

MultiHeadAttention::MultiHeadAttention(const AttentionOptions& options, Generator& gen)
    : Attention(options),
      out_proj({.in_features = options.query_size,
                .out_features = options.query_size,
                .bias = options.bias,
                .dtype = options.dtype},
               gen) {
  require_kind({AttentionKind::multi_head});
  const std::size_t e = options.query_size;
  if (options.num_heads == 0 || e % options.num_heads != 0) {
    throw Error(
        fmt::format("{}: query_size (E = {}) must be divisible by num_heads ({})", label(), e, options.num_heads));
  }
  if (packed_in_proj()) {
    register_parameter("in_proj_weight", in_proj_weight, init::xavier_uniform({3 * e, e}, gen, options.dtype));
  } else {
    register_parameter("q_proj_weight", q_proj_weight, init::xavier_uniform({e, e}, gen, options.dtype));
    register_parameter("k_proj_weight", k_proj_weight, init::xavier_uniform({e, options.key_size}, gen, options.dtype));
    register_parameter("v_proj_weight", v_proj_weight, init::xavier_uniform({e, value_size()}, gen, options.dtype));
  }
  if (options.bias) {
    register_parameter("in_proj_bias", in_proj_bias, Tensor::zeros({3 * e}, options.dtype));
    out_proj.bias.mutable_value().fill(0.0);  // PyTorch zeroes it after Linear's own initialisation
  }
  register_module("out_proj", out_proj);
}

Var MultiHeadAttention::projection_weight(std::size_t which) const {
  if (!packed_in_proj()) return which == query_rows ? q_proj_weight : which == key_rows ? k_proj_weight : v_proj_weight;
  const auto e = static_cast<long>(options_.query_size);
  return slice(in_proj_weight, 0, static_cast<long>(which) * e, static_cast<long>(which + 1) * e);
}

Var MultiHeadAttention::projection_bias(std::size_t which) const {
  if (!options_.bias) return {};
  const auto e = static_cast<long>(options_.query_size);
  return slice(in_proj_bias, 0, static_cast<long>(which) * e, static_cast<long>(which + 1) * e);
}

Var MultiHeadAttention::split_heads(const Var& x) const {
  const std::size_t heads = options_.num_heads;
  if (heads == 1) return x;  // [B, S, E] is already [B * 1, S, d]
  const std::size_t b = x.shape()[0], s = x.shape()[1], d = options_.query_size / heads;
  Var by_head = permute(reshape(x, Shape{b, s, heads, d}), {0, 2, 1, 3});  // [B, heads, S, d]
  return reshape(by_head, Shape{b * heads, s, d});
}

AttentionMemory MultiHeadAttention::prepare(const Var& keys, const Var& values, const Mask& padding) const {
  check_memory_inputs(keys, values, padding);
  const std::size_t b = keys.shape()[0], s = keys.shape()[1], heads = options_.num_heads;
  auto project = [&](const Var& x, std::size_t which) {
    Var w = projection_weight(which);
    return options_.bias ? linear(x, w, projection_bias(which)) : linear(x, w);  // one gemm over [B*S, *]
  };
  AttentionMemory memory;
  memory.keys = split_heads(project(keys, key_rows));        // [B * heads, S, d]
  memory.values = split_heads(project(values, value_rows));  // [B * heads, S, d]
  memory.padding = padding;
  if (!masks_nothing(padding)) {
    // PyTorch's layout: row b * heads + j masks head j of batch entry b.
    memory.score_padding = Mask::from_shape({b * heads, 1, s});
    for (std::size_t i = 0; i < b; ++i) {
      for (std::size_t j = 0; j < heads; ++j) {
        std::copy_n(padding.data() + i * s, s, memory.score_padding.data() + (i * heads + j) * s);
      }
    }
  }
  memory.query_weight = projection_weight(query_rows);
  memory.query_bias = projection_bias(query_rows);
  memory.batch = b;
  return memory;
}

AttentionResult MultiHeadAttention::attend(const AttentionMemory& memory, const Var& query) const {
  check_query(memory, query);
  const std::size_t b = memory.batch, s = memory.keys.shape()[1], e = options_.query_size;
  const std::size_t heads = options_.num_heads, d = e / heads;
  Var q = options_.bias ? linear(query, memory.query_weight, memory.query_bias) : linear(query, memory.query_weight);
  // [B, E] is [B, heads, d] row-major: head j of entry b is batch entry b * heads + j, no copy of K or V.
  Var q_heads = reshape(q / std::sqrt(static_cast<double>(d)), Shape{b * heads, 1, d});
  Var scores = matmul(q_heads, memory.keys, false, true);  // [B * heads, 1, S]
  if (!is_empty_mask(memory.score_padding)) {
    scores = masked_fill(scores, memory.score_padding, -std::numeric_limits<double>::infinity());
  }
  Var per_head = softmax(scores, -1);                                   // [B * heads, 1, S]
  Var context = reshape(matmul(per_head, memory.values), Shape{b, e});  // heads concatenated
  Var weights = heads == 1 ? reshape(per_head, Shape{b, s}) : mean(reshape(per_head, Shape{b, heads, s}), 1);
  return {out_proj.forward(context), weights};
}

}  // namespace tg
