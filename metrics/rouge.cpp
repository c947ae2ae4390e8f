#include "tapegrad/metrics/rouge.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <map>

namespace tg {

namespace {

RougeScore from_counts(std::size_t overlap, std::size_t candidate_total, std::size_t reference_total) {
  RougeScore s;
  s.precision = candidate_total == 0 ? 0.0 : static_cast<double>(overlap) / static_cast<double>(candidate_total);
  s.recall = reference_total == 0 ? 0.0 : static_cast<double>(overlap) / static_cast<double>(reference_total);
  s.f1 = s.precision + s.recall == 0.0 ? 0.0 : 2.0 * s.precision * s.recall / (s.precision + s.recall);
  return s;
}

std::map<Tokens, std::size_t> ngram_counts(const Tokens& tokens, std::size_t n) {
  std::map<Tokens, std::size_t> counts;
  for (std::size_t i = 0; i + n <= tokens.size(); ++i) {
    ++counts[Tokens(tokens.begin() + static_cast<std::ptrdiff_t>(i),
                    tokens.begin() + static_cast<std::ptrdiff_t>(i + n))];
  }
  return counts;
}

void add_to(RougeScore& sum, const RougeScore& s) {
  sum.precision += s.precision;
  sum.recall += s.recall;
  sum.f1 += s.f1;
}

void divide(RougeScore& sum, double count) {
  sum.precision /= count;
  sum.recall /= count;
  sum.f1 /= count;
}

}  // namespace

RougeScore rouge_n(const Tokens& candidate, const Tokens& reference, std::size_t n) {
  if (n == 0) throw MetricError("rouge_n: n must be at least 1");
  const auto cand = ngram_counts(candidate, n);
  const auto ref = ngram_counts(reference, n);
  std::size_t overlap = 0;
  for (const auto& [gram, count] : cand) {
    auto it = ref.find(gram);
    if (it != ref.end()) overlap += std::min(count, it->second);
  }
  const auto grams = [n](const Tokens& t) { return t.size() >= n ? t.size() - n + 1 : 0; };
  return from_counts(overlap, grams(candidate), grams(reference));
}

std::size_t lcs_length(const Tokens& a, const Tokens& b) {
  // row[j] = LCS(a[0, i), b[0, j)), one row at a time.
  std::vector<std::size_t> row(b.size() + 1, 0);
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = 0;  // LCS(a[0, i-1), b[0, j-1))
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t above = row[j];
      row[j] = a[i - 1] == b[j - 1] ? diagonal + 1 : std::max(above, row[j - 1]);
      diagonal = above;
    }
  }
  return row[b.size()];
}

RougeScore rouge_l(const Tokens& candidate, const Tokens& reference) {
  return from_counts(lcs_length(candidate, reference), candidate.size(), reference.size());
}

RougeSummary corpus_rouge(const std::vector<Tokens>& candidates, const std::vector<Tokens>& references) {
  if (candidates.size() != references.size()) {
    throw MetricError(
        fmt::format("corpus_rouge: {} candidates but {} references", candidates.size(), references.size()));
  }
  if (candidates.empty()) throw MetricError("corpus_rouge: empty corpus");
  RougeSummary sum;
  for (std::size_t i = 0; i < candidates.size(); ++i) {
    add_to(sum.rouge1, rouge_n(candidates[i], references[i], 1));
    add_to(sum.rouge2, rouge_n(candidates[i], references[i], 2));
    add_to(sum.rouge_l, rouge_l(candidates[i], references[i]));
  }
  const double count = static_cast<double>(candidates.size());
  divide(sum.rouge1, count);
  divide(sum.rouge2, count);
  divide(sum.rouge_l, count);
  return sum;
}

}  // namespace tg
