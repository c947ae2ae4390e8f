#pragma once
/// LSTMCell and LSTM, as torch.nn.LSTMCell and torch.nn.LSTM (names, shapes and
/// gate order i, f, g, o):
///   [i f g o] = x W_ih^T + b_ih + h W_hh^T + b_hh
///   c' = sigmoid(f) * c + sigmoid(i) * tanh(g);   h' = sigmoid(o) * tanh(c')
///
/// Speed by design: the input projection of every time step is one GEMM per
/// layer and direction, the four gates of a step one GEMM.
///
/// What the cell and the layer share with GRU's lives in their bases:
/// RecurrentCell (recurrent_cell.hpp) and RNNBase (rnn_base.hpp).

#include "tapegrad/models/recurrent_cell.hpp"
#include "tapegrad/models/rnn_base.hpp"

namespace tg {

using LSTMCellOptions = RecurrentCellOptions;

class LSTMCell : public RecurrentCell {
 public:
  explicit LSTMCell(const LSTMCellOptions& options, Generator& gen = default_generator());
  /// x: [B, I]; state: h, c [B, H] (undefined: zeros) -> h', c' [B, H]
  CellState forward(const Var& x, const CellState& state = {}) const;
  /// forward(x, state).
  CellState step(const Var& x, const CellState& state) const override { return forward(x, state); }
};

/// forward(), options() and parameter() are RNNBase's; initial.c is c0.
class LSTM : public RNNBase {
 public:
  explicit LSTM(const RNNOptions& options, Generator& gen = default_generator());

 protected:
  /// Both biases go into the projection: b_ih + b_hh is added once, not once per step.
  Var project_inputs(const DirectionWeights& w, const Var& rows) const override;
  CellState step(const DirectionWeights& w, const Var& x_t, const CellState& state) const override;
};

}  // namespace tg
