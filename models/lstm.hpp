#pragma once
/// LSTMCell and LSTM, as torch.nn.LSTMCell and torch.nn.LSTM (names, shapes and
/// gate order i, f, g, o):
///   [i f g o] = x W_ih^T + b_ih + h W_hh^T + b_hh
///   c' = sigmoid(f) * c + sigmoid(i) * tanh(g);   h' = sigmoid(o) * tanh(c')
///
/// Speed by design: the input projection of every time step is one GEMM per
/// layer and direction, the four gates of a step one GEMM.

#include <cstdint>
#include <string>
#include <vector>

#include "tapegrad/models/rnn.hpp"

namespace tg {

struct LSTMCellOptions {
  std::size_t input_size = 0;   ///< I
  std::size_t hidden_size = 0;  ///< H
  bool bias = true;             ///< bias_ih and bias_hh
  DType dtype = DType::f32;     ///< dtype of the parameters
};

class LSTMCell : public Module {
 public:
  explicit LSTMCell(const LSTMCellOptions& options, Generator& gen = default_generator());
  /// x: [B, I]; state: h, c [B, H] (undefined: zeros) -> h', c' [B, H]
  CellState forward(const Var& x, const CellState& state = {}) const;
  const LSTMCellOptions& options() const { return options_; }

  Var weight_ih;  ///< [4H, I]
  Var weight_hh;  ///< [4H, H]
  Var bias_ih;    ///< [4H]
  Var bias_hh;    ///< [4H]

 private:
  LSTMCellOptions options_;
};

class LSTM : public Module {
 public:
  explicit LSTM(const RNNOptions& options, Generator& gen = default_generator());
  /// input: [T, B, I] ([B, T, I] when batch_first). initial: h0, c0
  /// [L*D, B, H] each, undefined for zeros. lengths: empty (every sequence
  /// has T steps) or B values in [1, T]; steps t >= lengths[b] neither change
  /// b's state nor receive gradient, and their outputs are zero
  /// (pack_padded_sequence semantics; the backward direction starts at each
  /// sequence's own last step).
  RNNOutput forward(const Var& input, const RNNState& initial = {}, const std::vector<std::int64_t>& lengths = {}) const;
  const RNNOptions& options() const { return options_; }
  /// The parameter named as in PyTorch ("weight_hh_l1_reverse"); throws Error if absent.
  const Var& parameter(const std::string& name) const;

 private:
  RNNOptions options_;
  /// In registration order: for each layer, each direction: w_ih, w_hh, b_ih, b_hh.
  std::vector<Var> weights_;
  std::vector<std::string> names_;  ///< PyTorch's name of each of weights_
};

}  // namespace tg
