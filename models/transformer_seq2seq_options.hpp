#pragma once
/// The options of TransformerSeq2Seq (transformer_seq2seq.hpp) and what follows from them alone.

#include <cstddef>
#include <cstdint>

#include "tapegrad/models/positional_encoding.hpp"
#include "tapegrad/models/transformer.hpp"

namespace tg {

struct TransformerSeq2SeqOptions {
  std::size_t source_vocab_size = 0;  ///< V_s, including the special tokens
  std::size_t target_vocab_size = 0;  ///< V_t, including the special tokens
  /// The encoder-decoder itself, as torch.nn.Transformer's arguments (d_model, nhead, layers,
  /// dim_feedforward, dropout, activation, layer_norm_eps, norm_first, bias); its batch_first
  /// and dtype are set by the model.
  TransformerOptions transformer{};
  PositionalKind positional = PositionalKind::sinusoidal;  ///< how positions are encoded, both sides
  std::size_t max_length = 1024;  ///< learned positions: the longest source or target (with BOS/EOS)
  bool share_embeddings = false;  ///< source and target share one table (needs V_s = V_t)
  bool tie_output = false;        ///< the output projection's weight is the target embedding
  double label_smoothing = 0.0;   ///< eps of the loss's cross entropy, in [0, 1]
  std::int64_t pad_id = 0;        ///< padding, in source and target
  std::int64_t bos_id = 1;        ///< the decoder's first input token
  std::int64_t eos_id = 2;        ///< ends a target sentence and a hypothesis
  DType dtype = DType::f32;       ///< dtype of the parameters
};

/// The number of parameters of TransformerSeq2Seq(options), from the options alone (nothing
/// allocated): a double, so that no configuration overflows it. Refuses the options that the
/// constructor refuses, with the same errors. What a checkpoint's configuration is checked
/// with before its model is built (train/).
double parameter_count_of(const TransformerSeq2SeqOptions& options);

namespace detail {

/// The options checked (throws Error naming the field) with transformer.batch_first = true and
/// transformer.dtype = dtype. Idempotent, so that a model rebuilt from options() is the same.
TransformerSeq2SeqOptions resolve(const TransformerSeq2SeqOptions& options);

}  // namespace detail
}  // namespace tg
