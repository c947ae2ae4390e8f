#pragma once
/// Levenshtein distance between token sequences, and the G2P scores built on
/// it: word error rate and phoneme error rate against several references.
///
/// For each word w with prediction p_w and references R_w (its pronunciations):
///   right(w)  = p_w equals some r in R_w
///   WER       = #{w : not right(w)} / #words
///   r*_w      = the reference nearest p_w: smallest d(p_w, r), ties to the
///               shorter r, then to the first listed
///   PER       = sum_w d(p_w, r*_w) / sum_w |r*_w|
/// Ties go to the shorter reference because that gives the larger PER: the
/// score never profits from the choice. d is the Levenshtein distance
/// (insertions, deletions and substitutions, each cost 1).

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "tapegrad/metrics/error.hpp"

namespace tg {

/// Tokens of a sequence: characters, phonemes, words.
using Tokens = std::vector<std::string>;

/// The Levenshtein distance: the fewest insertions, deletions and
/// substitutions of single tokens that turn `a` into `b`.
std::size_t edit_distance(const Tokens& a, const Tokens& b);
/// The same over ids.
std::size_t edit_distance(const std::vector<std::int64_t>& a, const std::vector<std::int64_t>& b);

/// Counts behind WER and PER; counts of several parts add up with +=.
struct G2PScore {
  std::size_t words = 0;             ///< words scored
  std::size_t wrong_words = 0;       ///< words whose prediction equals none of the references
  std::size_t edits = 0;             ///< sum of edit distances to the nearest references
  std::size_t reference_tokens = 0;  ///< sum of the nearest references' lengths
  /// wrong_words / words (0 when no words).
  double wer() const;
  /// edits / reference_tokens (0 when no tokens).
  double per() const;
  /// Adds the counts of another part.
  G2PScore& operator+=(const G2PScore& other);
};

/// The nearest reference to `prediction` as the header comment defines it:
/// its index in `references`. Throws MetricError when references is empty.
std::size_t nearest_reference(const Tokens& prediction, const std::vector<Tokens>& references);

/// Scores one word. Throws MetricError when references is empty or one of
/// them is empty.
G2PScore score_word(const Tokens& prediction, const std::vector<Tokens>& references);

/// Scores predictions[i] against references[i] for every word. Throws
/// MetricError when the counts differ, or as score_word (naming the word's index).
G2PScore score_g2p(const std::vector<Tokens>& predictions, const std::vector<std::vector<Tokens>>& references);

}  // namespace tg
