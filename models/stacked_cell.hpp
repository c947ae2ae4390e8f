#pragma once
/// StackedCell: L recurrent cells (LSTMCell or GRUCell, recurrent_cell.hpp) run one step at a
/// time, with dropout between cells while training: Seq2Seq's decoder recurrence.
///   s_t^0 = cell_0(x_t, s_{t-1}^0);   s_t^l = cell_l(dropout(h_t^{l-1}), s_{t-1}^l)
/// Children "0", "1", ...: cell l reads cell l - 1's h.

#include <cstddef>
#include <memory>
#include <vector>

#include "tapegrad/models/recurrent_cell.hpp"

namespace tg {

struct StackedCellOptions {
  RecurrentKind cell = RecurrentKind::lstm;  ///< LSTMCell or GRUCell
  std::size_t input_size = 0;                ///< I, the first cell's input size
  std::size_t hidden_size = 0;               ///< H, of every cell
  std::size_t num_layers = 1;                ///< number of cells
  double dropout = 0.0;                      ///< on each cell's output h except the last one's, while training
  DType dtype = DType::f32;                  ///< dtype of the parameters
};

class StackedCell : public Module {
 public:
  explicit StackedCell(const StackedCellOptions& options, Generator& gen = default_generator());
  /// x: [B, I]; states: one per cell (h, and c for LSTM, [B, H]) -> the new states.
  std::vector<CellState> forward(const Var& x, const std::vector<CellState>& states) const;
  const StackedCellOptions& options() const { return options_; }

 private:
  StackedCellOptions options_;
  std::vector<std::unique_ptr<RecurrentCell>> cells_;
};

}  // namespace tg
