#pragma once
/// TransformerSeq2Seq: a Transformer encoder-decoder for sequence tasks (Vaswani et al. 2017),
/// beside Seq2Seq and with its interface: the same batches (source ids [B, S] with lengths,
/// target_in = [BOS, y], target_out = [y, EOS], pad_id padding), the same loss, and the
/// decoders of decode.hpp through DecodingModel; a SequenceModel (sequence_model.hpp), so that
/// train/ and the command line train, save and decode it as they do Seq2Seq.
///
///   x = dropout(PE_s(emb_s(source) * sqrt(E)))                 [B, S, E]
///   memory = transformer.encoder(x, src_key_padding_mask)      padded source positions masked
///   y = dropout(PE_t(emb_t(target_in) * sqrt(E)))               [B, T, E]
///   h = transformer.decoder(y, memory, causal tgt_mask, memory_key_padding_mask)
///   logits = W_o h + b_o                                        [B, T, V_t]
///   loss = cross_entropy(logits, target_out, ignore_index = pad_id, label_smoothing), mean
/// with PE the positional encoding (sinusoidal or learned, positional_encoding.hpp), the
/// encoder and decoder stacks of torch.nn.Transformer (pre- or post-norm, final norms
/// included), and emb_s, emb_t, W_o optionally one shared table.
///
/// Decoding is incremental (TransformerDecodingState, transformer_seq2seq_state.hpp): each
/// step embeds the new tokens alone at their position, each decoder layer appends their
/// self-attention keys and values to its cache and attends to it, and the cross-attention keys
/// and values of the encoder output are projected once per search; reorder gathers both with
/// the beams. Hypothesis::attention is the last decoder layer's cross-attention, averaged over
/// heads.
///
/// Parameters (E = d_model):
///   source_embedding.weight   [V_s, E]   N(0, E^-1/2) (fairseq's), row pad_id 0 and no gradient
///   target_embedding.weight   [V_t, E]   as source's; absent with share_embeddings
///   source_positions.weight, target_positions.weight   [max_length, E]   (learned only)
///   transformer.*             as torch.nn.Transformer's (transformer.hpp), batch_first
///   output.weight [V_t, E], output.bias [V_t]   without tie_output
///   output_bias [V_t]         with tie_output (the weight is the target embedding)

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "tapegrad/models/embedding.hpp"
#include "tapegrad/models/linear.hpp"
#include "tapegrad/models/positional_encoding.hpp"
#include "tapegrad/models/sequence_model.hpp"
#include "tapegrad/models/transformer.hpp"
#include "tapegrad/models/transformer_seq2seq_options.hpp"
#include "tapegrad/models/transformer_seq2seq_state.hpp"

namespace tg {

class TransformerSeq2Seq : public SequenceModel {
 public:
  /// Checks the options and throws Error naming the field.
  explicit TransformerSeq2Seq(const TransformerSeq2SeqOptions& options, Generator& gen = default_generator());

  /// loss() (SequenceModel's) is the mean cross entropy of forward()'s logits over the
  /// non-padding tokens of target_out (teacher forcing), smoothed by this.
  double label_smoothing() const override;
  /// The teacher-forced logits [B, T, V_t] of target_in (arguments as loss()): every position
  /// at once, position t seeing target_in[:, 0..t] only.
  Var forward(const Indices& source, const std::vector<std::int64_t>& lengths, const Indices& target_in) const override;

  DecodingVocabulary vocabulary() const override;
  std::unique_ptr<DecodingState> start_decoding(const Indices& source,
                                                const std::vector<std::int64_t>& lengths) const override;
  DecodingStep next_step(DecodingState& state, const Indices& tokens) const override;
  void reorder(DecodingState& state, const Indices& rows) const override;
  /// Cross-attention keys and values and the encoder output, the cache at max_length, one step's values.
  double decoding_bytes(std::size_t rows, std::size_t source_length, std::size_t max_length) const override;

  /// Lengths as loss() takes them, checked (or counted from pad_id when empty).
  std::vector<std::int64_t> source_lengths(const Indices& source,
                                           const std::vector<std::int64_t>& lengths) const override;
  /// TransformerSeq2Seq(options(), gen). No sampling_generator(): no scheduled sampling.
  std::unique_ptr<SequenceModel> make_fresh(Generator& gen) const override;
  const TransformerSeq2SeqOptions& options() const { return options_; }
  /// The target side's table: target_embedding, or source_embedding with share_embeddings.
  const Embedding& target_embedding() const { return target_embedding_ ? *target_embedding_ : source_embedding; }

  /// Whether decoding keeps each decoder layer's keys and values (the default). false: every
  /// step runs the decoder over the whole prefix with a causal mask, the encoder output's
  /// projections still made once, as a decoder without a cache (torch.nn.TransformerDecoder)
  /// must: the same results, for measuring what the cache saves.
  bool key_value_cache = true;

  Embedding source_embedding;
  Transformer transformer;
  Var output_bias;  ///< [V_t]; with tie_output only (else output.bias)

 private:
  /// ids [B, L] at positions offset .. offset + L - 1 -> dropout(PE(emb(ids) * sqrt(E))) [B, L, E].
  Var embed(const Embedding& table, const PositionalEncoding& positions, const Indices& ids, std::size_t offset) const;
  /// The encoder output [B, S, E] and its key padding [B, S] (true = padded).
  Var encode(const Indices& source, const std::vector<std::int64_t>& lengths, Mask& padding) const;
  /// h [..., E] -> logits [..., V_t].
  Var project(const Var& h) const;

  TransformerSeq2SeqOptions options_;
  std::unique_ptr<Embedding> target_embedding_;  ///< null with share_embeddings
  std::unique_ptr<PositionalEncoding> source_positions_;
  std::unique_ptr<PositionalEncoding> target_positions_;
  std::unique_ptr<Linear> output_;  ///< null with tie_output
};

}  // namespace tg
