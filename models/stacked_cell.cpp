#include "tapegrad/models/stacked_cell.hpp"

#include <string>

#include <fmt/format.h>

#include "tapegrad/ops/dropout.hpp"

namespace tg {

StackedCell::StackedCell(const StackedCellOptions& options, Generator& gen) : options_(options) {
  if (options.num_layers == 0 || options.input_size == 0 || options.hidden_size == 0) {
    throw Error(fmt::format("StackedCell: num_layers ({}), input_size ({}) and hidden_size ({}) must be positive",
                            options.num_layers, options.input_size, options.hidden_size));
  }
  for (std::size_t l = 0; l < options.num_layers; ++l) {
    const std::size_t in = l == 0 ? options.input_size : options.hidden_size;
    cells_.push_back(
        make_cell(options.cell, {.input_size = in, .hidden_size = options.hidden_size, .dtype = options.dtype}, gen));
    register_module(std::to_string(l), *cells_.back());
  }
}

std::vector<CellState> StackedCell::forward(const Var& x, const std::vector<CellState>& states) const {
  if (states.size() != options_.num_layers) {
    throw ShapeError(fmt::format("StackedCell: expected {} layer states, got {}", options_.num_layers, states.size()));
  }
  std::vector<CellState> out;
  out.reserve(options_.num_layers);
  Var input = x;
  for (std::size_t l = 0; l < options_.num_layers; ++l) {
    if (l > 0) input = dropout(input, options_.dropout, is_training());
    out.push_back(cells_[l]->step(input, states[l]));
    input = out.back().h;
  }
  return out;
}

}  // namespace tg
