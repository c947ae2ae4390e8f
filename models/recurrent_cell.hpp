#pragma once
/// RecurrentCell: the interface of LSTMCell and GRUCell, one step of a
/// recurrence on one layer, as torch.nn.RNNCellBase: the options, the four
/// parameters with PyTorch's names, their initialisation, the argument checks,
/// and step() over a CellState, so that a stack of cells (StackedCell) holds
/// one kind of pointer.
///
/// Parameters: weight_ih [G*H, I], weight_hh [G*H, H], bias_ih [G*H] and
/// bias_hh [G*H] (with bias), G = gate_count(kind()); every one starts
/// U(-1/sqrt(H), 1/sqrt(H)), PyTorch's default.

#include <cstddef>
#include <memory>

#include "tapegrad/models/rnn.hpp"

namespace tg {

struct RecurrentCellOptions {
  std::size_t input_size = 0;   ///< I
  std::size_t hidden_size = 0;  ///< H
  bool bias = true;             ///< bias_ih and bias_hh
  DType dtype = DType::f32;     ///< dtype of the parameters
};

class RecurrentCell : public Module {
 public:
  /// x: [B, I]; state: h [B, H], and c [B, H] with a cell state (LSTMCell);
  /// undefined parts are zeros -> the next state (c undefined without a cell state).
  virtual CellState step(const Var& x, const CellState& state) const = 0;
  const RecurrentCellOptions& options() const { return options_; }
  RecurrentKind kind() const { return kind_; }

  Var weight_ih;  ///< [G*H, I]
  Var weight_hh;  ///< [G*H, H]
  Var bias_ih;    ///< [G*H]
  Var bias_hh;    ///< [G*H]

 protected:
  /// Registers the parameters; `name` ("LSTMCell") names the cell in errors.
  RecurrentCell(RecurrentKind kind, const char* name, const RecurrentCellOptions& options, Generator& gen);
  /// Throws ShapeError/DTypeError unless x is [B, I] of the parameters' dtype.
  void check_input(const Var& x) const;
  /// Throws ShapeError/DTypeError unless `state` (named `what`) is undefined or
  /// [B, H] of x's dtype.
  void check_state(const char* what, const Var& state, const Var& x) const;

 private:
  RecurrentCellOptions options_;
  RecurrentKind kind_;
  const char* name_;
};

/// An LSTMCell or a GRUCell.
std::unique_ptr<RecurrentCell> make_cell(RecurrentKind kind, const RecurrentCellOptions& options,
                                         Generator& gen = default_generator());

}  // namespace tg
