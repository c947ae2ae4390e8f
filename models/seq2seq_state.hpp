#pragma once
/// The states that Seq2Seq (seq2seq.hpp) passes between its encoder, its decoder's steps and
/// the decoders of decode.hpp, and the row gather that reorders them.

#include <cstdint>
#include <vector>

#include "tapegrad/models/attention.hpp"
#include "tapegrad/models/decoding_model.hpp"
#include "tapegrad/models/rnn.hpp"

namespace tg {

/// The decoder's recurrent state between steps.
struct DecoderState {
  std::vector<CellState> layers;  ///< per decoder layer: h [B, H_d], and c [B, H_d] for LSTM
  Var context;                    ///< c_{t-1} [B, C], fed into the next step (zeros at the start)
};

/// What encode() computes once per batch.
struct EncoderState {
  Var outputs;             ///< top encoder layer at every source position [B, S, D*H_e] (zero past each length)
  AttentionMemory memory;  ///< keys and values prepared for attention, with the padding mask [B, S]
  DecoderState initial;    ///< the decoder's state before its first step (through the bridge)
  std::vector<std::int64_t> lengths;  ///< source lengths, B values
};

/// One decoder step.
struct DecoderStep {
  Var logits;          ///< [B, V_t]
  Var features;        ///< [s_t; c_t] [B, H_d + C], what the output projection reads
  Var attention;       ///< alpha_t [B, S]
  DecoderState state;  ///< the state after the step, for the next one
};

/// Seq2Seq's state during a search (decoding_model.hpp): the encoder's state of the current
/// rows and the decoder's state after the last step.
struct Seq2SeqDecodingState : DecodingState {
  EncoderState encoded;  ///< memory and lengths of the current rows
  DecoderState decoder;  ///< encoded.initial before the first step
  /// Each row's sentence in the encoded batch: a reorder that keeps it (beam search's, within
  /// each sentence's beams) moves the decoder state alone, not the memory.
  std::vector<std::int64_t> sentence;
};

/// Rows `rows` of x [N, ...] (values in [0, N), repeats allowed) -> [rows.size(), ...]: the
/// embedding op used as a row gather (gradient scatter-added back). Undefined stays undefined.
Var take_rows(const Var& x, const Indices& rows);
/// Every per-sentence value of a decoder state at rows `rows`: how beam search reorders states.
DecoderState take_rows(const DecoderState& state, const Indices& rows);

}  // namespace tg
