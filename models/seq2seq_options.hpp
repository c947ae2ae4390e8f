#pragma once
/// The options of Seq2Seq (seq2seq.hpp) and what follows from them alone: the
/// resolved sizes and the parameter count.

#include <cstddef>
#include <cstdint>

#include "tapegrad/models/attention.hpp"
#include "tapegrad/models/rnn.hpp"

namespace tg {

/// How the decoder's first state comes from the encoder's final state (seq2seq.hpp's header comment).
enum class BridgeKind { identity, linear, zeros };

struct Seq2SeqOptions {
  std::size_t source_vocab_size = 0;         ///< V_s, including the special tokens
  std::size_t target_vocab_size = 0;         ///< V_t, including the special tokens
  std::size_t embedding_size = 0;            ///< E, of the source and the target embeddings
  std::size_t hidden_size = 0;               ///< H_e, the encoder's hidden size per direction
  std::size_t decoder_hidden_size = 0;       ///< H_d (0: D * H_e, what the identity bridge needs)
  RecurrentKind cell = RecurrentKind::lstm;  ///< LSTM or GRU, in the encoder and the decoder
  std::size_t encoder_layers = 1;            ///< L_e, stacked encoder layers
  std::size_t decoder_layers = 1;            ///< L_d, stacked decoder cells
  bool bidirectional = false;                ///< a backward encoder direction too (D = 2)
  /// While training: dropout on both embeddings, between recurrent layers and cells, and on
  /// [s_t; c_t] before the output projection (masks from the default generator).
  double dropout = 0.0;
  BridgeKind bridge = BridgeKind::identity;  ///< encoder final state -> decoder first state
  /// The attention's kind, attention_size, num_heads and bias; its query_size (H_d),
  /// key_size and value_size (D*H_e) and dtype are set by the model.
  AttentionOptions attention{};
  bool tie_embeddings = false;   ///< output weight = decoder.embedding.weight (needs E = H_d + C)
  double label_smoothing = 0.0;  ///< eps of the loss's cross entropy, in [0, 1]
  /// Scheduled sampling: while training, the probability that a step t >= 1 is fed the model's
  /// own previous prediction (argmax of step t - 1's logits) instead of the gold target_in
  /// token, drawn per sentence and step. 0 is plain teacher forcing.
  double sampling_probability = 0.0;
  std::uint64_t sampling_seed = 0;  ///< seed of the scheduled-sampling draws
  std::int64_t pad_id = 0;          ///< padding, in source and target
  std::int64_t bos_id = 1;          ///< the decoder's first input token
  std::int64_t eos_id = 2;          ///< ends a target sentence and a hypothesis
  DType dtype = DType::f32;         ///< dtype of the parameters

  /// The reference model of bench/SPEC.md: V = V_s = V_t, Embedding(V, E) -> LSTM(E, H) with one
  /// unidirectional layer, identity bridge, additive attention with attention size H, LSTMCell(E +
  /// H, H), untied output Linear(2H, V), no dropout, no label smoothing, no scheduled sampling.
  static Seq2SeqOptions reference(std::size_t vocab, std::size_t embed, std::size_t hidden);
};

/// The number of parameters of Seq2Seq(options), from the options alone (nothing allocated): a
/// double, so that no configuration overflows it (exact below 2^53). Refuses the options that the
/// constructor refuses, with the same errors. What a checkpoint's configuration is checked with
/// before its model is built (train/saved_model.cpp).
double parameter_count_of(const Seq2SeqOptions& options);

/// About the bytes that a Seq2Seq(options) holds while decoding `rows` rows of sources of up to
/// `source_length` tokens (Seq2Seq::decoding_bytes): the encoder's outputs, keys and values,
/// and one step's logits and states, in options.dtype. No cache: nothing grows with the steps.
double decoding_bytes_of(const Seq2SeqOptions& options, std::size_t rows, std::size_t source_length);

namespace detail {

/// D: 2 for a bidirectional encoder, else 1.
std::size_t directions(const Seq2SeqOptions& options);

/// The options with decoder_hidden_size and the attention's sizes filled in, checked (throws
/// Error / ShapeError naming the field). Idempotent, so that a model rebuilt from options()
/// (copy_as) is the same model.
Seq2SeqOptions resolve(const Seq2SeqOptions& options);

}  // namespace detail
}  // namespace tg
