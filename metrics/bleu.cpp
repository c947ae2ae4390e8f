#include "tapegrad/metrics/bleu.hpp"

#include <fmt/format.h>

#include <cmath>
#include <cstdlib>
#include <map>

namespace tg {

namespace {

using NgramCounts = std::map<std::vector<std::string>, std::size_t>;

NgramCounts ngram_counts(const Tokens& tokens, std::size_t n) {
  NgramCounts counts;
  for (std::size_t i = 0; i + n <= tokens.size(); ++i) {
    ++counts[Tokens(tokens.begin() + static_cast<std::ptrdiff_t>(i),
                    tokens.begin() + static_cast<std::ptrdiff_t>(i + n))];
  }
  return counts;
}

// The reference length nearest c, ties to the shorter (NLTK's closest_ref_length).
std::size_t closest_reference_length(const std::vector<Tokens>& references, std::size_t c) {
  std::size_t best = references[0].size();
  for (const Tokens& r : references) {
    const auto gap = [c](std::size_t len) { return len > c ? len - c : c - len; };
    if (gap(r.size()) < gap(best) || (gap(r.size()) == gap(best) && r.size() < best)) best = r.size();
  }
  return best;
}

}  // namespace

double BleuScore::precision(std::size_t n) const {
  if (n < 1 || n > 4) throw MetricError(fmt::format("BleuScore::precision: n = {} is not in 1..4", n));
  return static_cast<double>(matches[n - 1]) / static_cast<double>(totals[n - 1]);
}

BleuScore corpus_bleu(const std::vector<std::vector<Tokens>>& references, const std::vector<Tokens>& hypotheses) {
  if (references.size() != hypotheses.size()) {
    throw MetricError(
        fmt::format("corpus_bleu: {} hypotheses but {} reference sets", hypotheses.size(), references.size()));
  }
  BleuScore s;
  for (std::size_t k = 0; k < hypotheses.size(); ++k) {
    const Tokens& hyp = hypotheses[k];
    if (references[k].empty()) throw MetricError(fmt::format("corpus_bleu: sentence {} has no references", k));
    for (std::size_t n = 1; n <= 4; ++n) {
      const NgramCounts counts = ngram_counts(hyp, n);
      // The most times each n-gram of the hypothesis appears in any one reference.
      NgramCounts most;
      for (const Tokens& ref : references[k]) {
        for (const auto& [gram, count] : ngram_counts(ref, n)) {
          if (counts.count(gram) != 0) most[gram] = std::max(most[gram], count);
        }
      }
      std::size_t matched = 0, total = 0;
      for (const auto& [gram, count] : counts) {
        auto it = most.find(gram);
        matched += it == most.end() ? 0 : std::min(count, it->second);
        total += count;
      }
      s.matches[n - 1] += matched;
      s.totals[n - 1] += std::max<std::size_t>(total, 1);
    }
    s.hypothesis_length += hyp.size();
    s.reference_length += closest_reference_length(references[k], hyp.size());
  }
  const double c = static_cast<double>(s.hypothesis_length), r = static_cast<double>(s.reference_length);
  s.brevity_penalty = s.hypothesis_length > s.reference_length ? 1.0
                      : s.hypothesis_length == 0               ? 0.0
                                                               : std::exp(1.0 - r / c);
  if (s.matches[0] == 0) return s;  // score 0, as NLTK returns before any logarithm
  double log_sum = 0.0;
  for (std::size_t n = 1; n <= 4; ++n) {
    const double p = s.matches[n - 1] == 0 ? bleu_precision_floor : s.precision(n);
    log_sum += 0.25 * std::log(p);
  }
  s.score = s.brevity_penalty * std::exp(log_sum);
  return s;
}

}  // namespace tg
