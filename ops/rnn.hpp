#pragma once
/// Fused recurrent-cell ops: the elementwise part of an LSTM or GRU step in
/// one pass each, instead of a dozen small ops (slices of the gates,
/// sigmoids, tanh, products). The GEMMs stay outside, in matmul.

#include "tapegrad/autodiff/var.hpp"

namespace tg {

/// The LSTM cell state from the pre-activation gates [B, 4H] (order i, f, g, o,
/// as PyTorch) and the previous cell state c [B, H]:
///   c' = sigmoid(f) * c + sigmoid(i) * tanh(g)                           [B, H]
Var lstm_cell_state(const Var& gates, const Var& c);

/// The LSTM hidden state from the same gates and the new cell state c' [B, H]:
///   h' = sigmoid(o) * tanh(c')                                           [B, H]
Var lstm_cell_output(const Var& gates, const Var& c_next);

/// The GRU step from the input's gate projections x_gates = x W_ih^T + b_ih
/// [B, 3H], the hidden state's h_gates = h W_hh^T + b_hh [B, 3H] (order r, z,
/// n, as PyTorch) and h [B, H]:
///   r = sigmoid(x_r + h_r),  z = sigmoid(x_z + h_z),  n = tanh(x_n + r * h_n)
///   h' = (1 - z) * n + z * h                                             [B, H]
Var gru_cell(const Var& x_gates, const Var& h_gates, const Var& h);

}  // namespace tg
