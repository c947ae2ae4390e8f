#include "tapegrad/models/seq2seq_state.hpp"

#include <fmt/format.h>

#include "tapegrad/ops/index.hpp"
#include "tapegrad/ops/shape.hpp"

namespace tg {

Var take_rows(const Var& x, const Indices& rows) {
  if (!x.defined()) return x;
  if (x.dim() == 0) throw ShapeError(fmt::format("take_rows: x must have rank >= 1, got {}", shape_str(x.shape())));
  const Shape& shape = x.shape();
  if (x.dim() == 2) return embedding(x, rows);
  Shape out_shape = shape;
  out_shape[0] = rows.size();
  const std::size_t width = shape[0] == 0 ? 0 : x.size() / shape[0];
  return reshape(embedding(reshape(x, Shape{shape[0], width}), rows), out_shape);
}

DecoderState take_rows(const DecoderState& state, const Indices& rows) {
  DecoderState out;
  out.layers.reserve(state.layers.size());
  for (const CellState& layer : state.layers)
    out.layers.push_back({take_rows(layer.h, rows), take_rows(layer.c, rows)});
  out.context = take_rows(state.context, rows);
  return out;
}

}  // namespace tg
