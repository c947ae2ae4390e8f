#pragma once
/// RNNBase: what LSTM and GRU share, as torch.nn.RNNBase (C++: RNNImplBase):
/// the options, the parameters with PyTorch's names (rnn.hpp), their
/// initialisation, and the multi-layer, bidirectional, length-masked
/// recurrence. A layer adds only its kind (gate count, state shape) and its
/// cell step.
///
/// Per layer k and direction d, from the layer input x [T, B, I_k]:
///   X = x W_ih^T (+ biases)        [T*B, G*H]   every step's input projection, one GEMM
///   s_t = step(X_t, s_{t-1})       [B, H]       h (and c for LSTM); d = 1 walks t from T-1 down
/// then layer k + 1 reads the directions' h concatenated [T, B, D*H], after
/// dropout while training.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "tapegrad/models/rnn.hpp"

namespace tg {

class RNNBase : public Module {
 public:
  /// input: [T, B, I] ([B, T, I] when batch_first). initial: h0, c0
  /// [L*D, B, H] each, undefined for zeros (c0 is ignored without a cell
  /// state). lengths: empty (every sequence has T steps) or B values in
  /// [1, T]; steps t >= lengths[b] neither change b's state nor receive
  /// gradient, and their outputs are zero (pack_padded_sequence semantics;
  /// the backward direction starts at each sequence's own last step). The
  /// result's state.c is undefined without a cell state.
  RNNOutput forward(const Var& input, const RNNState& initial = {},
                    const std::vector<std::int64_t>& lengths = {}) const;
  const RNNOptions& options() const { return options_; }
  RecurrentKind kind() const { return kind_; }
  /// The parameter named as in PyTorch ("weight_hh_l1_reverse"); throws Error if absent.
  const Var& parameter(const std::string& name) const;

 protected:
  /// Checks the options and registers the parameters in PyTorch's order.
  /// `name` ("LSTM") names the layer in errors.
  RNNBase(RecurrentKind kind, const char* name, const RNNOptions& options, Generator& gen);

  /// The weights of one layer and direction.
  struct DirectionWeights {
    const Var& w_ih;  // [G*H, I_k]
    const Var& w_hh;  // [G*H, H]
    const Var* b_ih;  // [G*H] or null (bias = false)
    const Var* b_hh;  // [G*H] or null (bias = false)
  };
  /// The input projection of every step at once: rows [T*B, I_k] -> [T*B, G*H],
  /// with whatever biases the kind adds outside the step.
  virtual Var project_inputs(const DirectionWeights& w, const Var& rows) const = 0;
  /// One step from the projected input x_t [B, G*H] and the state (h, and c
  /// with a cell state) [B, H] -> the next state.
  virtual CellState step(const DirectionWeights& w, const Var& x_t, const CellState& state) const = 0;

 private:
  RecurrentKind kind_;
  const char* name_;
  RNNOptions options_;
  /// In registration order: for each layer, each direction: w_ih, w_hh, b_ih, b_hh.
  std::vector<Var> weights_;
  std::vector<std::string> names_;  ///< PyTorch's name of each of weights_
};

/// An LSTM or a GRU.
std::unique_ptr<RNNBase> make_rnn(RecurrentKind kind, const RNNOptions& options, Generator& gen = default_generator());

}  // namespace tg
