#pragma once
/// Token-level scores of a teacher-forced decoder, from its logits
/// (Seq2Seq::forward: [B, T, V]) and target_out ([B, T]), over the positions
/// whose target is not padding:
///   accuracy    = #{t : argmax_v logits[t, v] = target[t]} / #tokens
///                 (argmax ties go to the smallest v)
///   cross-entropy of t = logsumexp_v logits[t, v] - logits[t, target[t]]
///   perplexity  = exp(mean cross-entropy over the tokens)
/// Computed in double whatever the logits' dtype. TokenStats adds up batches.

#include <cstddef>
#include <cstdint>

#include "tapegrad/autodiff/tensor.hpp"
#include "tapegrad/metrics/error.hpp"

namespace tg {

/// Running sums over the scored tokens.
struct TokenStats {
  std::size_t tokens = 0;          ///< target positions that are not padding
  std::size_t correct = 0;         ///< of those, where the argmax is the target
  double cross_entropy_sum = 0.0;  ///< sum of the tokens' cross-entropies (nats)

  /// Adds the tokens of one batch: logits [..., V] and targets of the shape
  /// before V; targets equal to ignore_index are skipped. Throws ShapeError
  /// when the shapes do not fit, IndexError for a target outside [0, V);
  /// nothing is added then.
  void add(const Tensor& logits, const Indices& targets, std::int64_t ignore_index = 0);
  /// Adds the sums of other batches.
  TokenStats& operator+=(const TokenStats& other);

  /// correct / tokens (0 when no tokens).
  double accuracy() const;
  /// cross_entropy_sum / tokens (0 when no tokens).
  double mean_cross_entropy() const;
  /// exp(mean_cross_entropy()) (1 when no tokens).
  double perplexity() const;
};

/// exp(mean_cross_entropy): the perplexity of a mean token cross-entropy in nats.
double perplexity(double mean_cross_entropy);

}  // namespace tg
