#pragma once
/// Seq2Seq: an attention encoder-decoder with input feeding, in one
/// configurable model (Seq2SeqOptions). The reference model of
/// bench/SPEC.md is Seq2SeqOptions::reference(V, E, H).
///
/// Encoder (source ids [B, S], lengths):
///   e = dropout(emb_src(source))                          [B, S, E]
///   h, (h_n, c_n) = RNN(e, lengths)                       LSTM or GRU, L_e layers, D directions, batch-first
///   memory = attention.prepare(h, h, padding)             keys/values projected once per batch
/// Bridge (the decoder's first state from the encoder's final one), per decoder layer l,
/// with x_l = [h_n(layer m, forward); h_n(layer m, backward)] of size D*H_e and
/// m = max(0, l + L_e - L_d) (the top encoder layers feed the top decoder layers):
///   identity   s_0^l = x_l (and the same for c), needs D*H_e = H_d
///   linear     s_0^l = tanh(W_h^l x_l + b_h^l);  c_0^l = W_c^l x_c + b_c^l (LSTM; no tanh: a cell
///              state is not bounded)
///   zeros      s_0^l = 0, c_0^l = 0
/// Decoder, for each target step t (input feeding, Luong et al. 2015):
///   x_t = [dropout(emb_tgt(y_{t-1})); c_{t-1}]            c_0 = 0
///   s_t = cells(x_t, s_{t-1})                             L_d LSTMCell/GRUCell, dropout between them
///   alpha_t, c_t = attention(memory, s_t)                 padded source positions get weight 0
///   logits_t = W_o dropout([s_t; c_t]) + b_o              one GEMM over all steps at once
/// Loss: cross_entropy(logits, target_out, ignore_index = pad_id, label_smoothing), the mean over
/// target tokens that are not padding.
///
/// Tokens: pad_id (0) pads both sides; target_in = [BOS, y_1 .. y_n] and target_out =
/// [y_1 .. y_n, EOS], right-padded with pad_id to a common length T. Decoders start from bos_id
/// and end a hypothesis at eos_id.
///
/// Parameters (full names; D = 2 if bidirectional else 1, C the attention's context size:
/// D*H_e, or H_d for multi_head; G = 4 for LSTM, 3 for GRU):
///   encoder.embedding.weight                 [V_s, E]          (row pad_id starts at 0, gets no gradient)
///   encoder.rnn.weight_ih_l{k}[_reverse]     [G*H_e, E or D*H_e]   as torch.nn.LSTM / GRU
///   encoder.rnn.weight_hh_l{k}[_reverse]     [G*H_e, H_e]
///   encoder.rnn.bias_ih_l{k}[_reverse], encoder.rnn.bias_hh_l{k}[_reverse]   [G*H_e]
///   bridge.weight_h [L_d, H_d, D*H_e], bridge.bias_h [L_d, H_d]   (bridge = linear only)
///   bridge.weight_c [L_d, H_d, D*H_e], bridge.bias_c [L_d, H_d]   (bridge = linear, LSTM only)
///   decoder.output_bias                      [V_t]             (tie_embeddings only)
///   decoder.embedding.weight                 [V_t, E]
///   decoder.cells.{l}.weight_ih              [G*H_d, E + C for l = 0, else H_d]   as torch.nn.LSTMCell / GRUCell
///   decoder.cells.{l}.weight_hh              [G*H_d, H_d]
///   decoder.cells.{l}.bias_ih, decoder.cells.{l}.bias_hh   [G*H_d]
///   decoder.attention.*                      as the attention kind names them (attention.hpp);
///                                            additive: key_proj.weight, query_proj.weight,
///                                            query_proj.bias, v
///   decoder.output.weight [V_t, H_d + C], decoder.output.bias [V_t]   (without tie_embeddings)
/// With tie_embeddings the output projection's weight is decoder.embedding.weight itself (one
/// parameter, listed once), which needs E = H_d + C.
///
/// Seq2Seq is a SequenceModel (sequence_model.hpp), so a DecodingModel: the searches of decode.hpp decode it step by
/// step, carrying the recurrent state (Seq2SeqDecodingState).
///
/// One class per file: StackedCell (stacked_cell.hpp), Seq2SeqEncoder (seq2seq_encoder.hpp),
/// Seq2SeqBridge (seq2seq_bridge.hpp), Seq2SeqDecoder (seq2seq_decoder.hpp) and Seq2Seq here;
/// the options in seq2seq_options.hpp, the encoder and decoder states in seq2seq_state.hpp.
/// This header includes them all.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "tapegrad/models/attention.hpp"
#include "tapegrad/models/embedding.hpp"
#include "tapegrad/models/gru.hpp"
#include "tapegrad/models/linear.hpp"
#include "tapegrad/models/lstm.hpp"
#include "tapegrad/models/module.hpp"
#include "tapegrad/models/seq2seq_bridge.hpp"
#include "tapegrad/models/seq2seq_decoder.hpp"
#include "tapegrad/models/seq2seq_encoder.hpp"
#include "tapegrad/models/seq2seq_options.hpp"
#include "tapegrad/models/seq2seq_state.hpp"
#include "tapegrad/models/sequence_model.hpp"
#include "tapegrad/models/stacked_cell.hpp"

namespace tg {

class Seq2Seq : public SequenceModel {
 public:
  /// Checks the options (sizes, special ids, the bridge's and the tie's size rules) and throws
  /// Error / ShapeError naming the field.
  explicit Seq2Seq(const Seq2SeqOptions& options, Generator& gen = default_generator());

  /// loss() (SequenceModel's) is the mean cross entropy of forward()'s logits over the
  /// non-padding tokens of target_out (teacher forcing, with scheduled sampling while training
  /// if sampling_probability > 0; see the header comment for BOS/EOS/pad), smoothed by this.
  double label_smoothing() const override;
  /// The teacher-forced logits [B, T, V_t] of target_in (arguments as loss()).
  Var forward(const Indices& source, const std::vector<std::int64_t>& lengths, const Indices& target_in) const override;

  /// Runs the encoder once per batch: attention memory (keys projected once) and the decoder's
  /// first state. Arguments as loss().
  EncoderState encode(const Indices& source, const std::vector<std::int64_t>& lengths = {}) const;
  /// One incremental decoder step: tokens [B] are y_{t-1} (bos_id at the first step); `state`
  /// is the previous step's (encoder.initial at the first). Only the new token is fed.
  DecoderStep decode_step(const AttentionMemory& memory, const Indices& tokens, const DecoderState& state) const;

  /// The encoder state of the sentences `rows` (indices into its batch; repeats allowed, as beam
  /// search repeats each sentence K times). The attention memory is prepared again from the
  /// picked outputs, so that every attention kind's layout follows.
  EncoderState select(const EncoderState& state, const Indices& rows) const;

  // DecodingModel: encode(), then decode_step() per step; reorder() gathers the decoder
  // state's rows and, when rows move between sentences, select()s the memory too.
  DecodingVocabulary vocabulary() const override;
  std::unique_ptr<DecodingState> start_decoding(const Indices& source,
                                                const std::vector<std::int64_t>& lengths) const override;
  DecodingStep next_step(DecodingState& state, const Indices& tokens) const override;
  void reorder(DecodingState& state, const Indices& rows) const override;
  /// Encoder outputs, keys and values per row, and one step's logits and states.
  double decoding_bytes(std::size_t rows, std::size_t source_length, std::size_t max_length) const override;

  const Seq2SeqOptions& options() const { return options_; }
  /// The scheduled-sampling generator: a training checkpoint saves and restores its state.
  Generator* sampling_generator() const override { return &sampling_gen_; }
  /// Lengths as loss() takes them, checked (or counted from pad_id when empty).
  std::vector<std::int64_t> source_lengths(const Indices& source,
                                           const std::vector<std::int64_t>& lengths) const override;
  /// Seq2Seq(options(), gen).
  std::unique_ptr<SequenceModel> make_fresh(Generator& gen) const override;

  Seq2SeqEncoder encoder;
  Seq2SeqDecoder decoder;

 private:
  DecoderState initial_state(const RNNState& final_state, std::size_t batch) const;

  Seq2SeqOptions options_;
  std::unique_ptr<Seq2SeqBridge> bridge_;
  /// Scheduled-sampling draws; mutable so that loss() stays const, as dropout's generator.
  mutable Generator sampling_gen_;
};

}  // namespace tg
