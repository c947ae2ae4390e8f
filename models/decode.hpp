#pragma once
/// Decoding an encoder-decoder model: greedy, beam search, sampling and scoring given targets.
///
/// Every decoder takes a DecodingModel (decoding_model.hpp: Seq2Seq, TransformerSeq2Seq), runs
/// without recording (NoGradGuard), encodes the batch once (start_decoding) and then feeds only
/// each step's new token (next_step), the model carrying its state between steps (never
/// re-running the decoder over the prefix). The model is used as it is: call model.eval()
/// first, or dropout stays active. Sentences of a batch are decoded together; padding in the
/// source (with lengths, or counted from pad_id) does not change any sentence's result.
///
/// Scores are log-probabilities under the model (log_softmax of the logits, before any
/// temperature or truncation), summed over the hypothesis's tokens, EOS included.
/// GNMT's length penalty (Wu et al. 2016): lp(n) = ((5 + n) / 6)^alpha, with n the number of
/// tokens including EOS; normalized_score = score / lp(n).

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "tapegrad/models/decoding_model.hpp"
#include "tapegrad/models/seq2seq.hpp"

namespace tg {

/// One decoded sequence.
struct Hypothesis {
  /// Generated tokens, without BOS; the last one is eos_id unless max_length cut it short.
  std::vector<std::int64_t> tokens;
  double score = 0.0;             ///< sum of the tokens' log-probabilities
  double normalized_score = 0.0;  ///< score / lp(tokens.size()) (beam search; score otherwise)
  /// attention[t][s]: weight of source position s when producing tokens[t]; each row has the
  /// sentence's own source length.
  std::vector<std::vector<double>> attention;
  bool finished = false;  ///< ended with eos_id
};

struct GreedyOptions {
  std::size_t max_length = 100;  ///< most tokens per hypothesis, EOS included
};

struct BeamSearchOptions {
  std::size_t beam_size = 5;     ///< K, hypotheses kept alive per sentence
  double length_penalty = 0.6;   ///< GNMT's alpha; 0 ranks by the raw score
  std::size_t n_best = 1;        ///< hypotheses returned per sentence, in [1, K]
  std::size_t max_length = 100;  ///< most tokens per hypothesis, EOS included
};

struct SamplingOptions {
  double temperature = 1.0;      ///< logits are divided by it; > 0
  std::size_t top_k = 0;         ///< sample among the k most likely tokens (0: all)
  double top_p = 1.0;            ///< nucleus: the fewest most likely tokens whose mass reaches p, in (0, 1]
  std::size_t max_length = 100;  ///< most tokens per hypothesis, EOS included
};

/// About the most bytes a decode takes: `batch` sentences of up to `source_length` tokens, `beam`
/// hypotheses each (1: greedy), up to `max_length` steps, with `models` (an ensemble; all
/// decode every row). The search's own: each step's [B*K, S] attention weights (beam search
/// keeps them, in the first model's dtype) and every finished hypothesis's own [T][S] in float64
/// (up to 2K per sentence), growing as S * max_length; then each model's
/// DecodingModel::decoding_bytes for B*K rows. A double, so that no input can overflow it.
/// Callers check it before decoding inputs they do not control (train/evaluate.cpp).
double decode_memory_bytes(std::span<const DecodingModel* const> models, std::size_t batch, std::size_t source_length,
                           std::size_t beam, std::size_t max_length);
/// The same for one model.
double decode_memory_bytes(const DecodingModel& model, std::size_t batch, std::size_t source_length, std::size_t beam,
                           std::size_t max_length);
/// The same for `models` Seq2Seq models of these options, without building one.
double decode_memory_bytes(const Seq2SeqOptions& options, std::size_t batch, std::size_t source_length,
                           std::size_t beam, std::size_t max_length, std::size_t models = 1);

/// GNMT's length penalty ((5 + length) / 6)^alpha.
double length_penalty(std::size_t length, double alpha);

/// The most likely token at each step. source [B, S]; lengths as DecodingModel::start_decoding
/// (Seq2Seq::loss). One hypothesis per sentence.
std::vector<Hypothesis> greedy_decode(const DecodingModel& model, const Indices& source,
                                      const std::vector<std::int64_t>& lengths = {}, const GreedyOptions& options = {});

/// Beam search over all sentences at once (B*K decoder rows). At each step every sentence's
/// alive hypotheses are extended by every token and the 2K best candidates are ranked: EOS among
/// the first K ends a hypothesis (kept as finished), the best K others stay alive. A sentence is
/// done when it has K finished hypotheses or reaches max_length (its alive ones are then kept
/// unfinished); the search stops when every sentence is done. Returns, per sentence, its n_best
/// hypotheses by normalized_score, best first. Decoder states follow their beams through the
/// model's reorder (Seq2Seq: embedding-as-index gathers of the [B*K, H] rows).
std::vector<std::vector<Hypothesis>> beam_search(const DecodingModel& model, const Indices& source,
                                                 const std::vector<std::int64_t>& lengths = {},
                                                 const BeamSearchOptions& options = {});

/// Beam search over an ensemble: every model encodes the source and follows the same
/// hypotheses, which are scored by the mean of the models' log-probabilities at each step
/// (Hypothesis::score is that mean's sum; the attention is the first model's). The models
/// must share vocabulary sizes and special ids (Error otherwise, naming both); one model is
/// exactly beam_search(model, ...). The models may be of different kinds (a Transformer and
/// an LSTM).
std::vector<std::vector<Hypothesis>> beam_search(std::span<const DecodingModel* const> models, const Indices& source,
                                                 const std::vector<std::int64_t>& lengths = {},
                                                 const BeamSearchOptions& options = {});
/// The same for an ensemble of Seq2Seq models.
std::vector<std::vector<Hypothesis>> beam_search(std::span<const Seq2Seq* const> models, const Indices& source,
                                                 const std::vector<std::int64_t>& lengths = {},
                                                 const BeamSearchOptions& options = {});

/// The log-probability of given targets under the model (teacher forcing): for sentence b, the
/// sum of log p(targets[b][t] | source, targets[b][<t]) over its tokens and a final eos_id, as
/// Hypothesis::score counts them (targets hold no BOS and no EOS). Rescoring another model's
/// hypotheses uses it. source [B, S] and lengths as Seq2Seq::loss; one target per sentence,
/// each token in [0, V_t) (Error naming the sentence and the token otherwise).
std::vector<double> score_targets(const DecodingModel& model, const Indices& source,
                                  const std::vector<std::int64_t>& lengths,
                                  const std::vector<std::vector<std::int64_t>>& targets);

/// Ancestral sampling from the model's distribution with temperature, then top-k, then top-p
/// truncation, one draw per sentence and step from `gen` (the same seed gives the same samples).
std::vector<Hypothesis> sample(const DecodingModel& model, const Indices& source, Generator& gen,
                               const std::vector<std::int64_t>& lengths = {}, const SamplingOptions& options = {});

}  // namespace tg
