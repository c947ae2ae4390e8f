#include "tapegrad/metrics/token.hpp"

#include <fmt/format.h>

#include <cmath>
#include <limits>

namespace tg {

void TokenStats::add(const Tensor& logits, const Indices& targets, std::int64_t ignore_index) {
  const Shape& shape = logits.shape();
  const Shape target_shape(targets.shape().begin(), targets.shape().end());
  if (shape.empty() || Shape(shape.begin(), shape.end() - 1) != target_shape) {
    throw ShapeError(fmt::format("TokenStats::add: logits {} do not fit targets {} (expected targets' shape + [V])",
                                 shape_str(shape), shape_str(target_shape)));
  }
  const std::size_t vocab = shape.back();
  const std::size_t positions = targets.size();
  const std::vector<double> values = logits.to_vector();
  // Summed apart and added at the end, so that an error leaves the stats as they were.
  TokenStats batch;
  for (std::size_t p = 0; p < positions; ++p) {
    const std::int64_t target = targets.flat(p);
    if (target == ignore_index) continue;
    if (target < 0 || static_cast<std::size_t>(target) >= vocab) {
      throw IndexError(fmt::format("TokenStats::add: target {} at position {} is outside [0, {})", target, p, vocab));
    }
    const double* row = values.data() + p * vocab;
    std::size_t best = 0;
    for (std::size_t v = 1; v < vocab; ++v) {
      if (row[v] > row[best]) best = v;
    }
    double sum = 0.0;
    for (std::size_t v = 0; v < vocab; ++v) sum += std::exp(row[v] - row[best]);
    const double log_sum_exp = row[best] + std::log(sum);
    ++batch.tokens;
    batch.correct += best == static_cast<std::size_t>(target) ? 1 : 0;
    batch.cross_entropy_sum += log_sum_exp - row[static_cast<std::size_t>(target)];
  }
  *this += batch;
}

TokenStats& TokenStats::operator+=(const TokenStats& other) {
  tokens += other.tokens;
  correct += other.correct;
  cross_entropy_sum += other.cross_entropy_sum;
  return *this;
}

double TokenStats::accuracy() const {
  return tokens == 0 ? 0.0 : static_cast<double>(correct) / static_cast<double>(tokens);
}

double TokenStats::mean_cross_entropy() const {
  return tokens == 0 ? 0.0 : cross_entropy_sum / static_cast<double>(tokens);
}

double TokenStats::perplexity() const { return tg::perplexity(mean_cross_entropy()); }

double perplexity(double mean_cross_entropy) { return std::exp(mean_cross_entropy); }

}  // namespace tg
