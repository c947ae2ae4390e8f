#pragma once
/// Corpus BLEU-4 (Papineni et al. 2002) exactly as NLTK's
/// nltk.translate.bleu_score.corpus_bleu computes it with its defaults
/// (weights 1/4 each, no smoothing), checked against NLTK in tests/fixtures/bleu.json:
///   m_n   = sum over sentences of the clipped n-gram matches: each n-gram of the
///           hypothesis counts at most as often as in the reference that has it most
///   t_n   = sum over sentences of max(1, number of n-grams in the hypothesis)
///   c     = total hypothesis length
///   r     = sum over sentences of the closest reference length (ties: the shorter)
///   BP    = 1 if c > r, 0 if c = 0, else exp(1 - r / c)
///   BLEU  = 0 if m_1 = 0, else BP * exp(sum_n 1/4 log p_n), p_n = m_n / t_n
/// where, as in NLTK, a p_n with m_n = 0 is replaced by the smallest normal
/// double (2.2e-308): BLEU is then not 0 but of the order of 1e-77, which is
/// what NLTK returns (it warns). bleu_precision_floor names that value.

#include <array>
#include <cstddef>
#include <vector>

#include "tapegrad/metrics/edit_distance.hpp"
#include "tapegrad/metrics/error.hpp"

namespace tg {

/// NLTK's stand-in for a zero n-gram precision: sys.float_info.min.
inline constexpr double bleu_precision_floor = 2.2250738585072014e-308;

/// Corpus BLEU-4 with its parts.
struct BleuScore {
  double score = 0.0;                    ///< BLEU, in [0, 1]
  std::array<std::size_t, 4> matches{};  ///< m_1 .. m_4
  std::array<std::size_t, 4> totals{};   ///< t_1 .. t_4
  std::size_t hypothesis_length = 0;     ///< c
  std::size_t reference_length = 0;      ///< r
  double brevity_penalty = 0.0;          ///< BP
  /// p_n = m_n / t_n, n = 1..4 (index n - 1), without the floor.
  double precision(std::size_t n) const;
};

/// BLEU of hypotheses[i] against references[i] (one or more each). Throws
/// MetricError when the counts differ or a sentence has no references.
BleuScore corpus_bleu(const std::vector<std::vector<Tokens>>& references, const std::vector<Tokens>& hypotheses);

}  // namespace tg
