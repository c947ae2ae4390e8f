#include "tapegrad/models/gru.hpp"

#include "tapegrad/ops/linalg.hpp"
#include "tapegrad/ops/rnn.hpp"

namespace tg {

GRUCell::GRUCell(const GRUCellOptions& options, Generator& gen)
    : RecurrentCell(RecurrentKind::gru, "GRUCell", options, gen) {}

// r, z, n from x W_ih^T + b_ih and h W_hh^T + b_hh; h' = (1 - z) n + z h (ops/rnn.hpp)
Var GRUCell::forward(const Var& x, const Var& h) const {
  check_input(x);
  check_state("h", h, x);
  const bool bias = options().bias;
  Var x_gates = bias ? linear(x, weight_ih, bias_ih) : linear(x, weight_ih);
  Var h_prev = h.defined() ? h : Var(Tensor::zeros({x.shape()[0], options().hidden_size}, x.dtype()));
  Var h_gates = bias ? linear(h_prev, weight_hh, bias_hh) : linear(h_prev, weight_hh);
  return gru_cell(x_gates, h_gates, h_prev);
}

GRU::GRU(const RNNOptions& options, Generator& gen) : RNNBase(RecurrentKind::gru, "GRU", options, gen) {}

// X = x W_ih^T + b_ih
Var GRU::project_inputs(const DirectionWeights& w, const Var& rows) const {
  return w.b_ih != nullptr ? linear(rows, w.w_ih, *w.b_ih) : linear(rows, w.w_ih);
}

// h_gates = h W_hh^T + b_hh; h' from X_t, h_gates and h (ops/rnn.hpp)
CellState GRU::step(const DirectionWeights& w, const Var& x_t, const CellState& state) const {
  Var h_gates = w.b_hh != nullptr ? addmm(*w.b_hh, state.h, w.w_hh, false, true) : matmul(state.h, w.w_hh, false, true);
  return {gru_cell(x_t, h_gates, state.h), Var()};
}

}  // namespace tg
