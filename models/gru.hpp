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

#include <cstdint>
#include <string>
#include <vector>

#include "tapegrad/models/rnn.hpp"

namespace tg {

struct GRUCellOptions {
  std::size_t input_size = 0;   ///< I
  std::size_t hidden_size = 0;  ///< H
  bool bias = true;             ///< bias_ih and bias_hh
  DType dtype = DType::f32;     ///< dtype of the parameters
};

class GRUCell : public Module {
 public:
  explicit GRUCell(const GRUCellOptions& options, Generator& gen = default_generator());
  /// x: [B, I]; h: [B, H] (undefined: zeros) -> h' [B, H]
  Var forward(const Var& x, const Var& h = {}) const;
  const GRUCellOptions& options() const { return options_; }

  Var weight_ih;  ///< [3H, I]
  Var weight_hh;  ///< [3H, H]
  Var bias_ih;    ///< [3H]
  Var bias_hh;    ///< [3H]

 private:
  GRUCellOptions options_;
};

class GRU : public Module {
 public:
  explicit GRU(const RNNOptions& options, Generator& gen = default_generator());
  /// As LSTM::forward; initial.c is ignored and the result's state.c is undefined.
  RNNOutput forward(const Var& input, const RNNState& initial = {}, const std::vector<std::int64_t>& lengths = {}) const;
  const RNNOptions& options() const { return options_; }
  /// The parameter named as in PyTorch ("bias_ih_l0_reverse"); throws Error if absent.
  const Var& parameter(const std::string& name) const;

 private:
  RNNOptions options_;
  std::vector<Var> weights_;
  std::vector<std::string> names_;  ///< PyTorch's name of each of weights_
};

}  // namespace tg
