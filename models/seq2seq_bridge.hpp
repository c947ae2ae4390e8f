#pragma once
/// Seq2SeqBridge: Seq2Seq's linear bridge (seq2seq.hpp), the decoder's first state from the
/// encoder's final one, per decoder layer l with x_l [B, D*H_e]:
///   s_0^l = tanh(W_h^l x_l + b_h^l)           [B, H_d]
///   c_0^l = W_c^l x_c + b_c^l                 [B, H_d]   (LSTM; no tanh: a cell state is not bounded)
/// One Linear per decoder layer, run as one batched GEMM over the layers.

#include "tapegrad/models/module.hpp"
#include "tapegrad/models/seq2seq_options.hpp"

namespace tg {

class Seq2SeqBridge : public Module {
 public:
  explicit Seq2SeqBridge(const Seq2SeqOptions& options, Generator& gen = default_generator());
  /// h (and c for LSTM): [L_d, B, D*H_e] -> [L_d, B, H_d]
  Var forward_h(const Var& h) const;
  Var forward_c(const Var& c) const;
  const Seq2SeqOptions& options() const { return options_; }

  Var weight_h;  ///< [L_d, H_d, D*H_e]
  Var bias_h;    ///< [L_d, H_d]
  Var weight_c;  ///< [L_d, H_d, D*H_e]; LSTM only
  Var bias_c;    ///< [L_d, H_d]; LSTM only

 private:
  Seq2SeqOptions options_;
};

}  // namespace tg
