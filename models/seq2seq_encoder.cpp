#include "tapegrad/models/seq2seq_encoder.hpp"

#include "tapegrad/autodiff/scope.hpp"
#include "tapegrad/ops/dropout.hpp"

namespace tg {

Seq2SeqEncoder::Seq2SeqEncoder(const Seq2SeqOptions& options, Generator& gen)
    : embedding({.num_embeddings = options.source_vocab_size,
                 .embedding_dim = options.embedding_size,
                 .padding_idx = options.pad_id,
                 .dtype = options.dtype},
                gen),
      options_(options) {
  register_module("embedding", embedding);
  const RNNOptions rnn{.input_size = options.embedding_size,
                       .hidden_size = options.hidden_size,
                       .num_layers = options.encoder_layers,
                       .bias = true,
                       .batch_first = true,
                       .dropout = options.dropout,
                       .bidirectional = options.bidirectional,
                       .dtype = options.dtype};
  rnn_ = make_rnn(options.cell, rnn, gen);
  register_module("rnn", *rnn_);
}

RNNOutput Seq2SeqEncoder::forward(const Indices& source, const std::vector<std::int64_t>& lengths) const {
  NameScope scope("encoder");
  Var e = dropout(embedding.forward(source), options_.dropout, is_training());
  return rnn_->forward(e, {}, lengths);
}

}  // namespace tg
