#pragma once
/// Recurrent layers in PyTorch's layout: the options, state and output types
/// shared by LSTM and GRU (lstm.hpp, gru.hpp) and their cells. The layers share
/// one base, RNNBase (rnn_base.hpp), and the cells one interface, RecurrentCell
/// (recurrent_cell.hpp).
///
/// Parameter names follow torch.nn.LSTM / torch.nn.GRU: for layer k,
/// weight_ih_l{k} [G*H, I_k], weight_hh_l{k} [G*H, H], bias_ih_l{k} [G*H],
/// bias_hh_l{k} [G*H], with the suffix "_reverse" for the backward direction;
/// G = 4 (gates i, f, g, o) for LSTM and 3 (r, z, n) for GRU; I_0 is
/// input_size and I_k = H * num_directions above. Every parameter starts
/// U(-1/sqrt(H), 1/sqrt(H)), PyTorch's default.

#include <cstddef>
#include <string>

#include "tapegrad/models/module.hpp"

namespace tg {

/// The recurrence of a layer or cell: LSTM (gates i, f, g, o, and a cell
/// state c beside h) or GRU (gates r, z, n, the state h alone).
enum class RecurrentKind { lstm, gru };

/// G, the number of gates stacked along the first dimension of every weight.
constexpr std::size_t gate_count(RecurrentKind kind) { return kind == RecurrentKind::lstm ? 4 : 3; }

/// Whether the state carries a cell state c beside h.
constexpr bool has_cell_state(RecurrentKind kind) { return kind == RecurrentKind::lstm; }

struct RNNOptions {
  std::size_t input_size = 0;   ///< I, the size of each input vector
  std::size_t hidden_size = 0;  ///< H
  std::size_t num_layers = 1;   ///< stacked layers; layer k > 0 reads layer k - 1's output
  bool bias = true;             ///< bias_ih and bias_hh
  bool batch_first = false;     ///< input and output [B, T, *] instead of [T, B, *] (PyTorch's default is false)
  double dropout = 0.0;         ///< dropout on each layer's output except the last, while training
  bool bidirectional = false;   ///< a second direction reading the sequence backwards
  DType dtype = DType::f32;     ///< dtype of the parameters
};

/// The recurrent state: h [num_layers * num_directions, B, H], and c of the
/// same shape for LSTM (undefined for GRU). Row l * num_directions + d is
/// layer l, direction d (0 forward, 1 backward), as in PyTorch.
struct RNNState {
  Var h;
  Var c;
};

struct RNNOutput {
  /// Top layer's hidden state at every step: [T, B, D*H] ([B, T, D*H] when
  /// batch_first), the directions concatenated (forward first). Steps past a
  /// sequence's length are zero.
  Var output;
  /// Final state; each sequence's is taken at its own last step.
  RNNState state;
};

/// One step's state of a cell: h [B, H], and c [B, H] for LSTMCell.
struct CellState {
  Var h;
  Var c;
};

namespace detail {

/// 1/sqrt(H): every recurrent parameter starts U(-bound, bound), PyTorch's default.
double rnn_init_bound(std::size_t hidden_size);

/// Throws DTypeError when only the dtype of an argument is wrong (shape_fits),
/// ShapeError otherwise.
[[noreturn]] void throw_bad_argument(bool shape_fits, const std::string& message);

}  // namespace detail
}  // namespace tg
