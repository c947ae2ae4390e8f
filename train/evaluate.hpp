#pragma once
// Decoding a set of items with a trained model and scoring the predictions:
// WER and PER for G2P (metrics/edit_distance.hpp), BLEU-4 and ROUGE for text.
#include <cstddef>
#include <span>
#include <string>
#include <vector>

#include "tapegrad/data/vocab.hpp"
#include "tapegrad/metrics/edit_distance.hpp"
#include "tapegrad/models/decode.hpp"
#include "tapegrad/train/task.hpp"

namespace tg {

/// What one decode, or one model with its training state, may take: half of this
/// machine's memory, or of the address space that `ulimit -v` leaves, whichever is smaller.
double memory_budget_bytes();

struct DecodeChoice {
  std::size_t beam = 1;          ///< 1: greedy
  double length_penalty = 0.6;   ///< GNMT's alpha for beam search
  std::size_t max_length = 0;    ///< 0: 2 x the longest source + 10
  std::size_t batch_size = 256;  ///< sources decoded at once
  std::size_t n_best = 1;        ///< hypotheses kept per source (predict)
  bool reversed_target = false;  ///< the model writes right to left: outputs are put back in order
};

/// One source's decoded hypotheses, best first.
struct Prediction {
  std::vector<Tokens> tokens;                  ///< n_best token sequences (no EOS)
  std::vector<double> scores;                  ///< their scores (log-probabilities; normalised for beams)
  std::vector<std::vector<double>> attention;  ///< the best hypothesis's attention [T][S]
};

/// Decodes every source (batched, longest first), in the order given; the model is put in
/// eval mode for the decoding and left as it was.
std::vector<Prediction> decode_all(DecodingModel& model, const std::vector<Tokens>& sources, const Vocab& source_vocab,
                                   const Vocab& target_vocab, const DecodeChoice& choice);
/// The same for an ensemble (models of one task and vocabularies, of any architecture): beam
/// search over the mean of their log-probabilities, a beam of 1 for greedy.
std::vector<Prediction> decode_all(std::span<DecodingModel* const> models, const std::vector<Tokens>& sources,
                                   const Vocab& source_vocab, const Vocab& target_vocab, const DecodeChoice& choice);

/// Models that decode together (an ensemble) and the direction they write targets in.
struct DecodingGroup {
  std::vector<DecodingModel*> models;
  bool reversed_target = false;
};

/// Rescoring, as in Liu et al. (2016, agreement of left-to-right and right-to-left models):
/// every group proposes its n-best for each source (beam search, choice.beam of them); every
/// candidate is scored by every model of every group (score_targets, reversed for a group that
/// writes right to left), and the candidates are ranked by the mean of those log-probabilities
/// over the models, divided by the length penalty as beam search ranks. choice.n_best of them
/// are returned per source, with that score; no attention.
std::vector<Prediction> rescore_all(std::span<const DecodingGroup> groups, const std::vector<Tokens>& sources,
                                    const Vocab& source_vocab, const Vocab& target_vocab, const DecodeChoice& choice);

/// Decodes every source with `groups`: one group alone (decode_all), several by rescoring
/// (rescore_all).
std::vector<Prediction> decode_groups(std::span<const DecodingGroup> groups, const std::vector<Tokens>& sources,
                                      const Vocab& source_vocab, const Vocab& target_vocab, const DecodeChoice& choice);

/// "wer" or "bleu": `metric` itself, or for "auto" wer on the G2P task and bleu on others.
std::string metric_for(const std::string& metric, const std::string& task);

/// What a split's evaluation reports.
struct Scores {
  std::size_t items = 0;
  double wer = 0, per = 0;                               ///< percent (g2p)
  double bleu = 0, rouge1 = 0, rouge2 = 0, rouge_l = 0;  ///< percent (text)
  std::string line(const std::string& split, const std::string& metric) const;
};

/// Scores the best prediction of each item against its references: "wer" (WER and PER) or
/// "bleu" (BLEU-4, ROUGE-1/2/L F1).
Scores score_predictions(const std::vector<Item>& items, const std::vector<Prediction>& predictions,
                         const std::string& metric);

/// Decodes `items` and scores them as score_predictions does.
Scores evaluate(DecodingModel& model, const std::vector<Item>& items, const Vocab& source_vocab,
                const Vocab& target_vocab, const DecodeChoice& choice, const std::string& metric,
                std::vector<Prediction>* predictions = nullptr);
Scores evaluate(std::span<DecodingModel* const> models, const std::vector<Item>& items, const Vocab& source_vocab,
                const Vocab& target_vocab, const DecodeChoice& choice, const std::string& metric,
                std::vector<Prediction>* predictions = nullptr);

}  // namespace tg
