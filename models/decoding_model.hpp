#pragma once
/// DecodingModel: what the searches of decode.hpp (greedy, beam, sampling, scoring) need from
/// an encoder-decoder model, so that they decode any model that implements it (Seq2Seq,
/// TransformerSeq2Seq). fairseq's incremental decoder in C++: the model encodes a batch once
/// into a state of its own, then takes one step per new token, and the search reorders the
/// state's rows as its hypotheses move (beam search follows its beams).
///
/// A search, in short (decode.cpp does this under NoGradGuard):
///   std::unique_ptr<DecodingState> state = model.start_decoding(source, lengths);  // B rows
///   model.reorder(*state, rows);               // e.g. each sentence repeated K times
///   tokens = [bos_id] * rows
///   loop: DecodingStep step = model.next_step(*state, tokens);  // logits [rows, V_t]
///         pick the next tokens from step.logits; model.reorder(*state, parents);

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "tapegrad/autodiff/var.hpp"
#include "tapegrad/models/module.hpp"

namespace tg {

/// The sizes and the special ids that a model reads and writes: models decoding together (an
/// ensemble) must agree on all of them.
struct DecodingVocabulary {
  std::size_t source_size = 0;  ///< V_s
  std::size_t target_size = 0;  ///< V_t, the width of a step's logits
  std::int64_t pad_id = 0;      ///< padding of the source
  std::int64_t bos_id = 1;      ///< the first step's input token
  std::int64_t eos_id = 2;      ///< ends a hypothesis
};

/// A model's state during one search: the encoded source and whatever the decoder carries
/// between steps (a recurrent state, a key/value cache), for each of its rows. Only the model
/// that made it reads it; the search sees the source lengths alone.
class DecodingState {
 public:
  virtual ~DecodingState() = default;
  /// Each row's source length (the attention weights past it are 0).
  std::vector<std::int64_t> source_lengths;
};

/// One decoder step of every row.
struct DecodingStep {
  Var logits;     ///< [rows, V_t], before log_softmax
  Var attention;  ///< [rows, S], the weights over source positions shown in Hypothesis::attention
};

/// The source lengths that start_decoding and every model's loss take, checked: `lengths` as
/// given (B values in [1, S]), or when empty each row's tokens up to its last non-pad one.
/// Throws ShapeError / IndexError / Error naming `who`, the row and the shapes.
std::vector<std::int64_t> checked_source_lengths(const Indices& source, const std::vector<std::int64_t>& lengths,
                                                 std::int64_t pad_id, const char* who);
/// "[2, 3]": the shape of token ids, as shape_str writes a tensor's.
std::string ids_shape_str(const Indices& ids);

/// The interface. A Module, so that a search can switch it to eval mode and read its dtype.
class DecodingModel : public Module {
 public:
  virtual DecodingVocabulary vocabulary() const = 0;

  /// Encodes source [B, S] once (lengths: B values in [1, S], or empty to count each row's
  /// tokens up to its last non-pad one): the state of B rows, before the first step.
  virtual std::unique_ptr<DecodingState> start_decoding(const Indices& source,
                                                        const std::vector<std::int64_t>& lengths) const = 0;

  /// Feeds each row its previous token (tokens [rows]: bos_id at the first step) and advances
  /// `state` by one step, in place; only the new tokens are computed, never the prefix again.
  virtual DecodingStep next_step(DecodingState& state, const Indices& tokens) const = 0;

  /// Keeps rows `rows` of the state (indices into its current rows, repeats allowed): new row
  /// r is old row rows[r], with its encoded source and its decoder history.
  virtual void reorder(DecodingState& state, const Indices& rows) const = 0;

  /// About the bytes this model holds while decoding `rows` rows of sources of up to
  /// `source_length` tokens for up to `max_length` steps: its encoded source, its state between
  /// steps (a cache grows with max_length) and one step's values. decode_memory_bytes adds the
  /// search's own.
  virtual double decoding_bytes(std::size_t rows, std::size_t source_length, std::size_t max_length) const = 0;
};

}  // namespace tg
