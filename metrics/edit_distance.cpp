#include "tapegrad/metrics/edit_distance.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <numeric>

namespace tg {

namespace {

// One row of the dynamic programme at a time: row[j] = d(a[0, i), b[0, j)).
template <class T>
std::size_t levenshtein(const std::vector<T>& a, const std::vector<T>& b) {
  std::vector<std::size_t> row(b.size() + 1);
  std::iota(row.begin(), row.end(), std::size_t{0});
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];  // d(a[0, i-1), b[0, j-1))
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t above = row[j];
      row[j] = std::min({above + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

}  // namespace

std::size_t edit_distance(const Tokens& a, const Tokens& b) { return levenshtein(a, b); }

std::size_t edit_distance(const std::vector<std::int64_t>& a, const std::vector<std::int64_t>& b) {
  return levenshtein(a, b);
}

double G2PScore::wer() const {
  return words == 0 ? 0.0 : static_cast<double>(wrong_words) / static_cast<double>(words);
}

double G2PScore::per() const {
  return reference_tokens == 0 ? 0.0 : static_cast<double>(edits) / static_cast<double>(reference_tokens);
}

G2PScore& G2PScore::operator+=(const G2PScore& other) {
  words += other.words;
  wrong_words += other.wrong_words;
  edits += other.edits;
  reference_tokens += other.reference_tokens;
  return *this;
}

std::size_t nearest_reference(const Tokens& prediction, const std::vector<Tokens>& references) {
  if (references.empty()) throw MetricError("nearest_reference: no references");
  std::size_t best = 0, best_distance = edit_distance(prediction, references[0]);
  for (std::size_t i = 1; i < references.size(); ++i) {
    const std::size_t d = edit_distance(prediction, references[i]);
    if (d < best_distance || (d == best_distance && references[i].size() < references[best].size())) {
      best = i;
      best_distance = d;
    }
  }
  return best;
}

G2PScore score_word(const Tokens& prediction, const std::vector<Tokens>& references) {
  if (references.empty()) throw MetricError("G2P score: a word without references");
  for (std::size_t i = 0; i < references.size(); ++i) {
    if (references[i].empty()) throw MetricError(fmt::format("G2P score: reference {} is empty", i));
  }
  const Tokens& nearest = references[nearest_reference(prediction, references)];
  G2PScore score;
  score.words = 1;
  score.edits = edit_distance(prediction, nearest);
  score.wrong_words = score.edits == 0 ? 0 : 1;  // distance 0 to the nearest: equal to a reference
  score.reference_tokens = nearest.size();
  return score;
}

G2PScore score_g2p(const std::vector<Tokens>& predictions, const std::vector<std::vector<Tokens>>& references) {
  if (predictions.size() != references.size()) {
    throw MetricError(
        fmt::format("G2P score: {} predictions but {} reference sets", predictions.size(), references.size()));
  }
  G2PScore total;
  for (std::size_t w = 0; w < predictions.size(); ++w) {
    try {
      total += score_word(predictions[w], references[w]);
    } catch (const MetricError& e) {
      throw MetricError(fmt::format("{} (word {})", e.what(), w));
    }
  }
  return total;
}

}  // namespace tg
