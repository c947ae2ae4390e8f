#include "tapegrad/models/lstm.hpp"

#include "tapegrad/ops/elementwise.hpp"
#include "tapegrad/ops/linalg.hpp"
#include "tapegrad/ops/rnn.hpp"

namespace tg {

LSTMCell::LSTMCell(const LSTMCellOptions& options, Generator& gen)
    : RecurrentCell(RecurrentKind::lstm, "LSTMCell", options, gen) {}

// [i f g o] = x W_ih^T + b_ih + h W_hh^T + b_hh; c' = s(f) c + s(i) tanh(g); h' = s(o) tanh(c')
CellState LSTMCell::forward(const Var& x, const CellState& state) const {
  check_input(x);
  check_state("h", state.h, x);
  check_state("c", state.c, x);
  const bool bias = options().bias;
  Var gates;
  if (state.h.defined()) {
    gates = bias ? linear_pair(x, weight_ih, state.h, weight_hh, bias_ih, bias_hh)
                 : linear_pair(x, weight_ih, state.h, weight_hh);
  } else {
    gates = bias ? linear(x, weight_ih, bias_ih + bias_hh) : linear(x, weight_ih);
  }
  Var c = state.c.defined() ? state.c : Var(Tensor::zeros({x.shape()[0], options().hidden_size}, x.dtype()));
  Var c_next = lstm_cell_state(gates, c);
  return {lstm_cell_output(gates, c_next), c_next};
}

LSTM::LSTM(const RNNOptions& options, Generator& gen) : RNNBase(RecurrentKind::lstm, "LSTM", options, gen) {}

// X = x W_ih^T + (b_ih + b_hh)
Var LSTM::project_inputs(const DirectionWeights& w, const Var& rows) const {
  return w.b_ih != nullptr ? linear(rows, w.w_ih, *w.b_ih + *w.b_hh) : linear(rows, w.w_ih);
}

// gates = X_t + h W_hh^T; c' = s(f) c + s(i) tanh(g); h' = s(o) tanh(c')
CellState LSTM::step(const DirectionWeights& w, const Var& x_t, const CellState& state) const {
  Var gates = addmm(x_t, state.h, w.w_hh, false, true);
  Var c = lstm_cell_state(gates, state.c);
  return {lstm_cell_output(gates, c), c};
}

}  // namespace tg
