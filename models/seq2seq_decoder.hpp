#pragma once
/// Seq2SeqDecoder: Seq2Seq's attention decoder with input feeding (seq2seq.hpp), for each
/// target step t:
///   x_t = [embedded_t; c_{t-1}]                   c_0 = 0
///   s_t = cells(x_t, s_{t-1})                     L_d LSTMCell/GRUCell (StackedCell)
///   alpha_t, c_t = attention(memory, s_t)         padded source positions get weight 0
///   logits_t = W_o dropout([s_t; c_t]) + b_o      project(), one GEMM over all steps at once
/// Names: (output_bias), embedding, cells, attention, (output).

#include <cstddef>
#include <memory>

#include "tapegrad/models/attention.hpp"
#include "tapegrad/models/embedding.hpp"
#include "tapegrad/models/linear.hpp"
#include "tapegrad/models/seq2seq_options.hpp"
#include "tapegrad/models/seq2seq_state.hpp"
#include "tapegrad/models/stacked_cell.hpp"

namespace tg {

class Seq2SeqDecoder : public Module {
 public:
  explicit Seq2SeqDecoder(const Seq2SeqOptions& options, Generator& gen = default_generator());
  /// One step from embedded inputs [B, E]: the new state, [s_t; c_t] and alpha_t (no logits).
  DecoderStep step(const AttentionMemory& memory, const Var& embedded, const DecoderState& state) const;
  /// features [..., H_d + C] -> logits [..., V_t], one GEMM; dropout on the features while
  /// training unless with_dropout is false (scheduled sampling's predictions).
  Var project(const Var& features, bool with_dropout = true) const;
  /// C, the attention's context size.
  std::size_t context_size() const { return attention_->context_size(); }
  const Attention& attention() const { return *attention_; }
  const Seq2SeqOptions& options() const { return options_; }

  Var output_bias;  ///< [V_t]; with tie_embeddings only (else output.bias)
  Embedding embedding;
  StackedCell cells;

 private:
  Seq2SeqOptions options_;
  std::unique_ptr<Attention> attention_;
  std::unique_ptr<Linear> output_;
};

}  // namespace tg
