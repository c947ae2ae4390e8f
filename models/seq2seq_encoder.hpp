#pragma once
/// Seq2SeqEncoder: Seq2Seq's encoder (seq2seq.hpp), the source embedding and the recurrent
/// layers, batch-first:
///   e = dropout(emb_src(source))              [B, S, E]
///   h, (h_n, c_n) = RNN(e, lengths)           LSTM or GRU, L_e layers, D directions
/// Names: embedding, rnn (as torch.nn.LSTM / GRU).

#include <cstdint>
#include <memory>
#include <vector>

#include "tapegrad/models/embedding.hpp"
#include "tapegrad/models/rnn_base.hpp"
#include "tapegrad/models/seq2seq_options.hpp"

namespace tg {

class Seq2SeqEncoder : public Module {
 public:
  explicit Seq2SeqEncoder(const Seq2SeqOptions& options, Generator& gen = default_generator());
  /// source: [B, S] ids; lengths: B values in [1, S] -> outputs [B, S, D*H_e] and the final state.
  RNNOutput forward(const Indices& source, const std::vector<std::int64_t>& lengths) const;
  const Seq2SeqOptions& options() const { return options_; }

  Embedding embedding;

 private:
  Seq2SeqOptions options_;
  std::unique_ptr<RNNBase> rnn_;
};

}  // namespace tg
