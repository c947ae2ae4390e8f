#pragma once
/// ROUGE-N and ROUGE-L of one candidate against one reference, as Lin (2004),
/// "ROUGE: A Package for Automatic Evaluation of Summaries", defines them:
///   ROUGE-N  overlap = sum over n-grams g of min(count_cand(g), count_ref(g))
///            R = overlap / #n-grams(ref),  P = overlap / #n-grams(cand)
///   ROUGE-L  R = LCS(cand, ref) / |ref|,   P = LCS(cand, ref) / |cand|
///   F1       = 2 P R / (P + R)  (Lin's F_lcs with beta = 1), 0 when P + R = 0
/// A side with no n-grams gives 0 for the rate that divides by it. Tokens are
/// compared as they are (no stemming, no lower-casing). corpus_rouge averages
/// the per-pair scores (the usual corpus-level report).

#include <cstddef>
#include <vector>

#include "tapegrad/metrics/edit_distance.hpp"
#include "tapegrad/metrics/error.hpp"

namespace tg {

/// Precision, recall and F1 of one ROUGE variant.
struct RougeScore {
  double precision = 0.0;  ///< P
  double recall = 0.0;     ///< R
  double f1 = 0.0;         ///< 2PR / (P + R), 0 when P + R = 0
};

/// ROUGE-N with clipped n-gram counts. Throws MetricError when n is 0.
RougeScore rouge_n(const Tokens& candidate, const Tokens& reference, std::size_t n);
/// ROUGE-L, from the longest common subsequence.
RougeScore rouge_l(const Tokens& candidate, const Tokens& reference);
/// Length of the longest common subsequence of `a` and `b`.
std::size_t lcs_length(const Tokens& a, const Tokens& b);

/// Mean ROUGE-1, ROUGE-2 and ROUGE-L over a corpus of pairs.
struct RougeSummary {
  RougeScore rouge1;   ///< mean ROUGE-1
  RougeScore rouge2;   ///< mean ROUGE-2
  RougeScore rouge_l;  ///< mean ROUGE-L
};
/// The means over candidates[i] and references[i]. Throws MetricError when the
/// counts differ or the corpus is empty.
RougeSummary corpus_rouge(const std::vector<Tokens>& candidates, const std::vector<Tokens>& references);

}  // namespace tg
