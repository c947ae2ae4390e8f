#pragma once
/// LearnedPositionalEncoding: a learned vector per position (BERT, fairseq's
/// LearnedPositionalEmbedding), an embedding table over positions:
///   y[..., l, :] = x[..., l, :] + weight[offset + l, :]
/// Positions past max_length - 1 have no vector: an IndexError names the position and the
/// maximum.
///
/// Parameter: weight [max_length, d_model], N(0, d^-1/2) at the start (fairseq's), of
/// options.dtype.

#include <cstddef>

#include "tapegrad/models/positional_encoding.hpp"

namespace tg {

class LearnedPositionalEncoding : public PositionalEncoding {
 public:
  explicit LearnedPositionalEncoding(const PositionalEncodingOptions& options, Generator& gen = default_generator());
  /// x [..., L, d] -> x + weight[offset .. offset + L); needs offset + L <= max_length.
  Var forward(const Var& x, std::size_t offset) const override;

  Var weight;  ///< [max_length, d_model]
};

}  // namespace tg
