#include "tapegrad/models/multi_head_attention.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include <fmt/format.h>

#include <xtensor/xoperation.hpp>

#include "tapegrad/models/init.hpp"
#include "tapegrad/ops/attention.hpp"
#include "tapegrad/ops/dropout.hpp"
#include "tapegrad/ops/elementwise.hpp"
#include "tapegrad/ops/index.hpp"
#include "tapegrad/ops/linalg.hpp"
#include "tapegrad/ops/reduce.hpp"
#include "tapegrad/ops/shape.hpp"
#include "tapegrad/ops/softmax.hpp"

namespace tg {
namespace {

enum Projection : std::size_t { query_rows = 0, key_rows = 1, value_rows = 2 };

constexpr double neg_inf = -std::numeric_limits<double>::infinity();

// a or b where either may be empty; broadcasts (NumPy rules) where both are set.
Mask either(const Mask& a, const Mask& b) {
  if (is_empty_mask(a)) return b;
  if (is_empty_mask(b)) return a;
  return Mask(a || b);
}

// [l, s]: true where key j comes after query i (torch's causal mask).
Mask causal_mask(std::size_t l, std::size_t s) {
  Mask m = Mask::from_shape({l, s});
  for (std::size_t i = 0; i < l; ++i) {
    for (std::size_t j = 0; j < s; ++j) m(i, j) = j > i;
  }
  return m;
}

// An attn_mask in the two forms the scores take: positions to block (masked_fill
// with -inf, which gives weight and gradient exactly 0) and finite values to add
// (undefined when there are none, as for a float causal mask of 0 and -inf).
struct ScoreMask {
  Mask blocked;
  Tensor added;
};

ScoreMask split_attn_mask(const AttentionMask& attn_mask, DType dtype) {
  if (!attn_mask.additive.defined()) return {attn_mask.blocked, Tensor()};
  const Tensor values = attn_mask.additive.to(DType::f64);
  const Array<double>& a = values.array<double>();
  ScoreMask out{Mask(xt::equal(a, neg_inf)), Tensor()};
  Array<double> finite = xt::where(out.blocked, 0.0, a);
  if (xt::any(xt::not_equal(finite, 0.0))) out.added = Tensor(std::move(finite)).to(dtype);
  return out;
}

// A key padding [B, S] as the scores of every head see it, [B * heads, 1, S] in PyTorch's
// layout (row b * heads + j masks head j of batch entry b); empty when it masks nothing.
Mask heads_padding(const Mask& padding, std::size_t b, std::size_t s, std::size_t heads) {
  if (masks_nothing(padding)) return {};
  Mask out = Mask::from_shape({b * heads, 1, s});
  for (std::size_t i = 0; i < b; ++i) {
    for (std::size_t j = 0; j < heads; ++j) std::copy_n(padding.data() + i * s, s, out.data() + (i * heads + j) * s);
  }
  return out;
}

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
  if (!(options.dropout >= 0.0 && options.dropout <= 1.0)) {
    throw Error(fmt::format("{}: dropout = {} is outside [0, 1]", label(), options.dropout));
  }
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

Var MultiHeadAttention::merge_heads(const Var& x, std::size_t batch) const {
  const std::size_t heads = options_.num_heads, l = x.shape()[1], d = x.shape()[2];
  if (heads == 1) return x;  // [B * 1, L, d] is already [B, L, E]
  return permute(x, Shape{batch, heads, l, d}, {0, 2, 1, 3}, Shape{batch, l, heads * d});  // via [B, L, heads, d]
}

Var MultiHeadAttention::split_heads(const Var& x) const {
  const std::size_t heads = options_.num_heads;
  if (heads == 1) return x;  // [B, S, E] is already [B * 1, S, d]
  const std::size_t b = x.shape()[0], s = x.shape()[1], d = options_.query_size / heads;
  return permute(x, Shape{b, s, heads, d}, {0, 2, 1, 3}, Shape{b * heads, s, d});  // via [B, heads, S, d]
}

AttentionMemory MultiHeadAttention::prepare(const Var& keys, const Var& values, const Mask& padding) const {
  check_memory_inputs(keys, values, padding);
  const std::size_t b = keys.shape()[0], s = keys.shape()[1];
  auto project = [&](const Var& x, std::size_t which) {
    Var w = projection_weight(which);
    return options_.bias ? linear(x, w, projection_bias(which)) : linear(x, w);  // one gemm over [B*S, *]
  };
  AttentionMemory memory;
  memory.keys = split_heads(project(keys, key_rows));        // [B * heads, S, d]
  memory.values = split_heads(project(values, value_rows));  // [B * heads, S, d]
  memory.padding = padding;
  memory.score_padding = heads_padding(padding, b, s, options_.num_heads);
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
  Var per_head = dropout(softmax(scores, -1), options_.dropout, is_training());  // [B * heads, 1, S]
  Var context = reshape(matmul(per_head, memory.values), Shape{b, e});           // heads concatenated
  Var weights = heads == 1 ? reshape(per_head, Shape{b, s}) : mean(reshape(per_head, Shape{b, heads, s}), 1);
  return {out_proj.forward(context), weights};
}

AttentionResult MultiHeadAttention::forward(const Var& query, const Var& key, const Var& value,
                                            const SequenceAttentionOptions& options) const {
  const Mask& padding = options.key_padding_mask;
  const Shape padding_shape(padding.shape().begin(), padding.shape().end());
  if (key.defined() && key.dim() == 3 && !is_empty_mask(padding) &&
      padding_shape != Shape{key.shape()[0], key.shape()[1]}) {
    throw ShapeError(fmt::format("{}: key_padding_mask must be [B, S] = {} to match key {}, got {}", label(),
                                 shape_str(Shape{key.shape()[0], key.shape()[1]}), shape_str(key.shape()),
                                 shape_str(padding_shape)));
  }
  const bool self_attention = query.node() == key.node() && key.node() == value.node();
  if (self_attention && packed_in_proj() && !options.need_weights) {
    // One projection into queries, keys and values side by side, read in place by the op.
    check_memory_inputs(key, value, padding);
    check_sequence_query(query, key.shape()[0], key.shape()[1], options);
    Var qkv = options_.bias ? linear(query, in_proj_weight, in_proj_bias) : linear(query, in_proj_weight);
    const std::size_t b = key.shape()[0], s = key.shape()[1];
    return {out_proj.forward(self_attend_heads(
                qkv, fused_options(options, heads_padding(padding, b, s, options_.num_heads), s, s, qkv.dtype()))),
            Var()};
  }
  return attend_rows(prepare(key, value, padding), query, options);
}

AttentionResult MultiHeadAttention::attend_sequence(const AttentionMemory& memory, const Var& query,
                                                    const SequenceAttentionOptions& options) const {
  if (!is_empty_mask(options.key_padding_mask)) {
    throw Error(
        fmt::format("{}: attend_sequence takes the key padding from the memory (prepare's padding); "
                    "options.key_padding_mask must be empty",
                    label()));
  }
  return attend_rows(memory, query, options);
}

void MultiHeadAttention::check_attn_mask(const AttentionMask& attn_mask, std::size_t batch, std::size_t l,
                                         std::size_t s) const {
  if (!is_empty_mask(attn_mask.blocked) && attn_mask.additive.defined()) {
    throw Error(fmt::format("{}: attn_mask has both a boolean and a float form; give one", label()));
  }
  if (attn_mask.empty()) return;
  const Shape shape = attn_mask.additive.defined()
                          ? attn_mask.additive.shape()
                          : Shape(attn_mask.blocked.shape().begin(), attn_mask.blocked.shape().end());
  const Shape per_batch{batch * options_.num_heads, l, s};
  if (shape != Shape{l, s} && shape != per_batch) {
    throw ShapeError(fmt::format("{}: attn_mask must be [L, S] = {} or [B * heads, L, S] = {}, got {}", label(),
                                 shape_str(Shape{l, s}), shape_str(per_batch), shape_str(shape)));
  }
}

void MultiHeadAttention::check_sequence_query(const Var& query, std::size_t b, std::size_t s,
                                              const SequenceAttentionOptions& options) const {
  const std::string who = label();
  if (!query.defined()) throw Error(fmt::format("{}: query is undefined", who));
  const std::size_t e = options_.query_size;
  if (query.dim() != 3 || query.shape()[0] != b || query.shape()[2] != e || query.shape()[1] == 0) {
    throw ShapeError(fmt::format("{}: query must be [B, L, E] = [{}, L, {}] with L >= 1 (key is [{}, {}, *]), got {}",
                                 who, b, e, b, s, shape_str(query.shape())));
  }
  check_attn_mask(options.attn_mask, b, query.shape()[1], s);
}

HeadAttentionOptions MultiHeadAttention::fused_options(const SequenceAttentionOptions& options, Mask score_padding,
                                                       std::size_t l, std::size_t s, DType dtype) const {
  ScoreMask mask = split_attn_mask(options.attn_mask, dtype);
  // Every reason a position is blocked in one mask; the masks broadcast to [B * heads, L, S].
  Mask blocked = either(either(mask.blocked, score_padding), options.is_causal ? causal_mask(l, s) : Mask{});
  return {.heads = options_.num_heads,
          .scale_divisor = std::sqrt(static_cast<double>(options_.query_size / options_.num_heads)),
          .blocked = masks_nothing(blocked) ? Mask{} : std::move(blocked),
          .added = mask.added,
          .dropout = options_.dropout,
          .training = is_training()};
}

AttentionResult MultiHeadAttention::attend_rows(const AttentionMemory& memory, const Var& query,
                                                const SequenceAttentionOptions& options) const {
  if (!memory.keys.defined() || !memory.values.defined()) {
    throw Error(fmt::format("{}: attend_sequence() needs the memory that prepare() returns", label()));
  }
  const std::size_t b = memory.batch, s = memory.keys.shape()[1], heads = options_.num_heads;
  check_sequence_query(query, b, s, options);
  if (query.dtype() != memory.keys.dtype()) {
    throw DTypeError(fmt::format("{}: query is {} but the keys are {}", label(), dtype_name(query.dtype()),
                                 dtype_name(memory.keys.dtype())));
  }
  const std::size_t l = query.shape()[1];

  Var q = options_.bias ? linear(query, memory.query_weight, memory.query_bias) : linear(query, memory.query_weight);
  const HeadAttentionOptions fused = fused_options(options, memory.score_padding, l, s, q.dtype());
  if (!options.need_weights) {  // one op that keeps only the weights for the backward
    return {out_proj.forward(attend_heads(q, memory.keys, memory.values, fused)), Var()};
  }
  // The same steps one op at a time, for the weights.
  Var q_heads = split_heads(q / fused.scale_divisor);      // [B * heads, L, d]
  Var scores = matmul(q_heads, memory.keys, false, true);  // [B * heads, L, S]
  if (fused.added.defined()) scores = scores + Var(fused.added);
  if (!is_empty_mask(fused.blocked)) scores = masked_fill(scores, fused.blocked, neg_inf);
  Var per_head = dropout(softmax(scores, -1), options_.dropout, is_training());     // [B * heads, L, S]
  Var context = out_proj.forward(merge_heads(matmul(per_head, memory.values), b));  // [B, L, E]
  Var by_head = reshape(per_head, Shape{b, heads, l, s});
  return {context, options.average_attn_weights ? mean(by_head, 1) : by_head};
}

}  // namespace tg
