#pragma once
/// SinusoidalPositionalEncoding: the fixed encoding of "Attention Is All You Need" (3.5),
///   PE[pos, 2i]     = sin(pos / 10000^(2i / d))
///   PE[pos, 2i + 1] = cos(pos / 10000^(2i / d))
/// for every column of d; with d odd the last column (2i = d - 1) is a sine. Computed per call
/// in float64 and converted to x's dtype, rather than kept as a buffer: it has nothing to save
/// (no state-dict entry), follows any dtype conversion of the model, and has no maximum
/// length. A step of an incremental decoder computes one row of d sines and cosines.
/// No parameters.

#include <cstddef>

#include "tapegrad/models/positional_encoding.hpp"

namespace tg {

class SinusoidalPositionalEncoding : public PositionalEncoding {
 public:
  /// Uses options.d_model; `gen` is unused (no parameters), taken for the shape every module shares.
  explicit SinusoidalPositionalEncoding(const PositionalEncodingOptions& options, Generator& gen = default_generator());
  /// x [..., L, d] -> x + PE[offset .. offset + L)
  Var forward(const Var& x, std::size_t offset) const override;
  /// The rows PE[offset .. offset + length) [length, d] in `dtype`.
  Tensor table(std::size_t offset, std::size_t length, DType dtype) const;
};

}  // namespace tg
