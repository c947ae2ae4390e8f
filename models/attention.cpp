#include "tapegrad/models/attention.hpp"

#include <algorithm>
#include <limits>

#include <fmt/format.h>

#include "tapegrad/ops/index.hpp"
#include "tapegrad/ops/linalg.hpp"
#include "tapegrad/ops/shape.hpp"
#include "tapegrad/ops/softmax.hpp"

#include "tapegrad/models/additive_attention.hpp"
#include "tapegrad/models/dot_attention.hpp"
#include "tapegrad/models/general_attention.hpp"
#include "tapegrad/models/multi_head_attention.hpp"

namespace tg {
namespace {

constexpr AttentionKind all_kinds[] = {AttentionKind::additive, AttentionKind::dot, AttentionKind::general,
                                       AttentionKind::scaled_dot, AttentionKind::multi_head};

}  // namespace

const char* attention_kind_name(AttentionKind kind) {
  switch (kind) {
    case AttentionKind::additive:
      return "additive";
    case AttentionKind::dot:
      return "dot";
    case AttentionKind::general:
      return "general";
    case AttentionKind::scaled_dot:
      return "scaled_dot";
    case AttentionKind::multi_head:
      return "multi_head";
  }
  return "unknown";
}

AttentionKind parse_attention_kind(const std::string& name) {
  for (AttentionKind kind : all_kinds) {
    if (name == attention_kind_name(kind)) return kind;
  }
  throw Error(
      fmt::format("parse_attention_kind: unknown attention kind '{}'; expected one of additive, dot, "
                  "general, scaled_dot, multi_head",
                  name));
}

bool is_empty_mask(const Mask& padding) { return padding.dimension() == 0 || padding.size() == 0; }

bool AttentionMask::empty() const { return is_empty_mask(blocked) && !additive.defined(); }

bool masks_nothing(const Mask& padding) {
  return is_empty_mask(padding) || std::none_of(padding.begin(), padding.end(), [](bool p) { return p; });
}

std::unique_ptr<Attention> make_attention(const AttentionOptions& options, Generator& gen) {
  switch (options.kind) {
    case AttentionKind::additive:
      return std::make_unique<AdditiveAttention>(options, gen);
    case AttentionKind::dot:
    case AttentionKind::scaled_dot:
      return std::make_unique<DotAttention>(options, gen);
    case AttentionKind::general:
      return std::make_unique<GeneralAttention>(options, gen);
    case AttentionKind::multi_head:
      return std::make_unique<MultiHeadAttention>(options, gen);
  }
  throw Error(fmt::format("make_attention: invalid attention kind {}", static_cast<int>(options.kind)));
}

std::unique_ptr<Attention> copy_as(const Attention& m, DType dtype) {
  Generator scratch(0);  // the copy's initial values are overwritten below
  auto copy = make_attention(m.options(), scratch);
  detail::become_copy(*copy, m, dtype);
  return copy;
}

Attention::Attention(const AttentionOptions& options) : options_(options) {
  if (options.query_size == 0 || options.key_size == 0) {
    throw Error(fmt::format("{} attention: query_size ({}) and key_size ({}) must be positive",
                            attention_kind_name(options.kind), options.query_size, options.key_size));
  }
}

std::string Attention::label() const { return fmt::format("{} ({})", type_name(), attention_kind_name(options_.kind)); }

void Attention::require_kind(std::initializer_list<AttentionKind> kinds) const {
  for (AttentionKind kind : kinds) {
    if (kind == options_.kind) return;
  }
  std::string names;
  for (AttentionKind kind : kinds) names += fmt::format("{}{}", names.empty() ? "" : " or ", attention_kind_name(kind));
  throw Error(fmt::format("{}: options.kind is {}, expected {} (make_attention picks the class for a kind)",
                          type_name(), attention_kind_name(options_.kind), names));
}

void Attention::check_memory_inputs(const Var& keys, const Var& values, const Mask& padding) const {
  const std::string who = label();
  if (!keys.defined() || !values.defined()) throw Error(fmt::format("{}: keys or values are undefined", who));
  if (keys.dim() != 3 || keys.shape()[2] != options_.key_size || keys.shape()[1] == 0) {
    throw ShapeError(fmt::format("{}: keys must be [B, S, Hk = {}] with S >= 1, got {}", who, options_.key_size,
                                 shape_str(keys.shape())));
  }
  const std::size_t b = keys.shape()[0], s = keys.shape()[1];
  if (values.shape() != Shape{b, s, value_size()}) {
    throw ShapeError(fmt::format("{}: values must be [B, S, Hv] = {} to match keys {}, got {}", who,
                                 shape_str(Shape{b, s, value_size()}), shape_str(keys.shape()),
                                 shape_str(values.shape())));
  }
  const Shape padding_shape(padding.shape().begin(), padding.shape().end());
  if (!is_empty_mask(padding) && padding_shape != Shape{b, s}) {
    throw ShapeError(fmt::format("{}: padding must be [B, S] = {} (or empty), got {}", who, shape_str(Shape{b, s}),
                                 shape_str(padding_shape)));
  }
  if (keys.dtype() != values.dtype()) {
    throw DTypeError(
        fmt::format("{}: keys are {} but values are {}", who, dtype_name(keys.dtype()), dtype_name(values.dtype())));
  }
  if (parameter_count() > 0 && keys.dtype() != dtype()) {
    throw DTypeError(fmt::format("{}: keys and values are {} but the parameters are {}", who, dtype_name(keys.dtype()),
                                 dtype_name(dtype())));
  }
}

void Attention::check_query(const AttentionMemory& memory, const Var& query) const {
  const std::string who = label();
  if (!memory.keys.defined() || !memory.values.defined()) {
    throw Error(fmt::format("{}: attend() needs the memory that prepare() returns", who));
  }
  if (!query.defined()) throw Error(fmt::format("{}: query is undefined", who));
  if (query.shape() != Shape{memory.batch, options_.query_size}) {
    throw ShapeError(fmt::format("{}: query must be [B, Hq] = {}, got {}", who,
                                 shape_str(Shape{memory.batch, options_.query_size}), shape_str(query.shape())));
  }
  if (query.dtype() != memory.keys.dtype()) {
    throw DTypeError(fmt::format("{}: query is {} but the prepared keys are {}", who, dtype_name(query.dtype()),
                                 dtype_name(memory.keys.dtype())));
  }
}

AttentionResult Attention::weigh_values(const Var& scores, const AttentionMemory& memory) {
  const std::size_t b = scores.shape()[0], s = scores.shape()[1], hv = memory.values.shape()[2];
  // -inf, not a large negative number: softmax then gives exactly 0 weight and 0 gradient.
  Var masked = is_empty_mask(memory.score_padding)
                   ? scores
                   : masked_fill(scores, memory.score_padding, -std::numeric_limits<double>::infinity());
  Var weights = softmax(masked, -1);                                      // [B, S]
  Var context = matmul(reshape(weights, Shape{b, 1, s}), memory.values);  // [B, 1, Hv]
  return {reshape(context, Shape{b, hv}), weights};
}

}  // namespace tg
