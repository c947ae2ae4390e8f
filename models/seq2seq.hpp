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

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "attention.hpp"
#include "embedding.hpp"
#include "gru.hpp"
#include "linear.hpp"
#include "lstm.hpp"
#include "module.hpp"

namespace tg {

/// How the decoder's first state comes from the encoder's final state (see the header comment).
enum class BridgeKind { identity, linear, zeros };

struct Seq2SeqOptions {
  std::size_t source_vocab_size = 0;    ///< V_s, including the special tokens
  std::size_t target_vocab_size = 0;    ///< V_t, including the special tokens
  std::size_t embedding_size = 0;       ///< E, of the source and the target embeddings
  std::size_t hidden_size = 0;          ///< H_e, the encoder's hidden size per direction
  std::size_t decoder_hidden_size = 0;  ///< H_d (0: D * H_e, what the identity bridge needs)
  RecurrentKind cell = RecurrentKind::lstm;  ///< LSTM or GRU, in the encoder and the decoder
  std::size_t encoder_layers = 1;       ///< L_e, stacked encoder layers
  std::size_t decoder_layers = 1;       ///< L_d, stacked decoder cells
  bool bidirectional = false;           ///< a backward encoder direction too (D = 2)
  /// While training: dropout on both embeddings, between recurrent layers and cells, and on
  /// [s_t; c_t] before the output projection (masks from the default generator).
  double dropout = 0.0;
  BridgeKind bridge = BridgeKind::identity;  ///< encoder final state -> decoder first state
  /// The attention's kind, attention_size, num_heads and bias; its query_size (H_d),
  /// key_size and value_size (D*H_e) and dtype are set by the model.
  AttentionOptions attention{};
  bool tie_embeddings = false;          ///< output weight = decoder.embedding.weight (needs E = H_d + C)
  double label_smoothing = 0.0;         ///< eps of the loss's cross entropy, in [0, 1]
  /// Scheduled sampling: while training, the probability that a step t >= 1 is fed the model's
  /// own previous prediction (argmax of step t - 1's logits) instead of the gold target_in
  /// token, drawn per sentence and step. 0 is plain teacher forcing.
  double sampling_probability = 0.0;
  std::uint64_t sampling_seed = 0;      ///< seed of the scheduled-sampling draws
  std::int64_t pad_id = 0;              ///< padding, in source and target
  std::int64_t bos_id = 1;              ///< the decoder's first input token
  std::int64_t eos_id = 2;              ///< ends a target sentence and a hypothesis
  DType dtype = DType::f32;             ///< dtype of the parameters

  /// The reference model of bench/SPEC.md: V = V_s = V_t, Embedding(V, E) -> LSTM(E, H) with one
  /// unidirectional layer, identity bridge, additive attention with attention size H, LSTMCell(E +
  /// H, H), untied output Linear(2H, V), no dropout, no label smoothing, no scheduled sampling.
  static Seq2SeqOptions reference(std::size_t vocab, std::size_t embed, std::size_t hidden);
};

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

/// The number of parameters of Seq2Seq(options), from the options alone (nothing allocated): a
/// double, so that no configuration overflows it (exact below 2^53). Refuses the options that the
/// constructor refuses, with the same errors. What a checkpoint's configuration is checked with
/// before its model is built (cli/saved_model.cpp).
double parameter_count_of(const Seq2SeqOptions& options);

/// Rows `rows` of x [N, ...] (values in [0, N), repeats allowed) -> [rows.size(), ...]: the
/// embedding op used as a row gather (gradient scatter-added back). Undefined stays undefined.
Var take_rows(const Var& x, const Indices& rows);
/// Every per-sentence value of a decoder state at rows `rows`: how beam search reorders states.
DecoderState take_rows(const DecoderState& state, const Indices& rows);

/// A stack of LSTMCells or GRUCells run one step at a time, with dropout between cells while
/// training: the decoder's recurrence. Children "0", "1", ...: cell l reads cell l - 1's h.
struct StackedCellOptions {
  RecurrentKind cell = RecurrentKind::lstm;  ///< LSTMCell or GRUCell
  std::size_t input_size = 0;   ///< I, the first cell's input size
  std::size_t hidden_size = 0;  ///< H, of every cell
  std::size_t num_layers = 1;   ///< number of cells
  double dropout = 0.0;         ///< on each cell's output h except the last one's, while training
  DType dtype = DType::f32;     ///< dtype of the parameters
};

class StackedCell : public Module {
 public:
  explicit StackedCell(const StackedCellOptions& options, Generator& gen = default_generator());
  /// x: [B, I]; states: one per cell (h, and c for LSTM, [B, H]) -> the new states.
  std::vector<CellState> forward(const Var& x, const std::vector<CellState>& states) const;
  const StackedCellOptions& options() const { return options_; }

 private:
  StackedCellOptions options_;
  std::vector<std::unique_ptr<RecurrentCell>> cells_;
};

/// The encoder: source embedding and the recurrent layers. Names: embedding, rnn.
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

/// The linear bridge: one Linear (+ tanh for h) per decoder layer, run as one batched GEMM.
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

/// The attention decoder with input feeding. Names: (output_bias), embedding, cells, attention, (output).
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

class Seq2Seq : public Module {
 public:
  /// Checks the options (sizes, special ids, the bridge's and the tie's size rules) and throws
  /// Error / ShapeError naming the field.
  explicit Seq2Seq(const Seq2SeqOptions& options, Generator& gen = default_generator());

  /// Mean cross entropy over the non-padding tokens of target_out (teacher forcing, with
  /// scheduled sampling while training if sampling_probability > 0).
  /// source [B, S]; lengths: B values in [1, S], or empty to count each row's tokens up to its
  /// last non-pad one; target_in, target_out [B, T] (see the header comment for BOS/EOS/pad).
  Var loss(const Indices& source, const std::vector<std::int64_t>& lengths, const Indices& target_in,
           const Indices& target_out) const;
  /// The teacher-forced logits [B, T, V_t] of target_in (arguments as loss()).
  Var forward(const Indices& source, const std::vector<std::int64_t>& lengths, const Indices& target_in) const;

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

  const Seq2SeqOptions& options() const { return options_; }
  /// The scheduled-sampling generator: a training checkpoint saves and restores its state.
  Generator& sampling_generator() const { return sampling_gen_; }
  /// Lengths as loss() takes them, checked (or counted from pad_id when empty).
  std::vector<std::int64_t> source_lengths(const Indices& source, const std::vector<std::int64_t>& lengths) const;

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
