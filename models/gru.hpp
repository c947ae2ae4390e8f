#pragma once
/// GRUCell and GRU, as torch.nn.GRUCell and torch.nn.GRU (names, shapes and
/// gate order r, z, n):
///   r = sigmoid(x W_ir^T + b_ir + h W_hr^T + b_hr)
///   z = sigmoid(x W_iz^T + b_iz + h W_hz^T + b_hz)
///   n = tanh(x W_in^T + b_in + r * (h W_hn^T + b_hn))
///   h' = (1 - z) * n + z * h
///
/// Speed by design: the input projection of every time step is one GEMM per
/// layer and direction, the three gates of a step one GEMM.
///
/// What the cell and the layer share with LSTM's lives in their bases:
/// RecurrentCell (recurrent_cell.hpp) and RNNBase (rnn_base.hpp).

#include "tapegrad/models/recurrent_cell.hpp"
#include "tapegrad/models/rnn_base.hpp"

namespace tg {

using GRUCellOptions = RecurrentCellOptions;

class GRUCell : public RecurrentCell {
 public:
  explicit GRUCell(const GRUCellOptions& options, Generator& gen = default_generator());
  /// x: [B, I]; h: [B, H] (undefined: zeros) -> h' [B, H]
  Var forward(const Var& x, const Var& h = {}) const;
  /// {forward(x, state.h), undefined c}; state.c is ignored.
  CellState step(const Var& x, const CellState& state) const override { return {forward(x, state.h), Var()}; }
};

/// forward(), options() and parameter() are RNNBase's; initial.c is ignored
/// and the result's state.c is undefined.
class GRU : public RNNBase {
 public:
  explicit GRU(const RNNOptions& options, Generator& gen = default_generator());

 protected:
  /// Only b_ih goes into the projection: b_hn sits inside r * (h W_hn^T + b_hn), so b_hh stays in the step.
  Var project_inputs(const DirectionWeights& w, const Var& rows) const override;
  CellState step(const DirectionWeights& w, const Var& x_t, const CellState& state) const override;
};

}  // namespace tg
