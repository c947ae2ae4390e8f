#pragma once
/// PositionalEncoding: what tells a Transformer where each token is, added to its embeddings
/// (which the model has scaled by sqrt(d_model) first, as in "Attention Is All You Need"):
///   y[..., l, :] = x[..., l, :] + PE[offset + l, :]
/// The interface of the two kinds, one class per file: SinusoidalPositionalEncoding (fixed,
/// no parameter) and LearnedPositionalEncoding (a learned vector per position). `offset` is the
/// position of x's first row, so that an incremental decoder encodes step t alone
/// (forward(x_t, t) equals row t of forward(x, 0)).

#include <cstddef>
#include <memory>
#include <string>

#include "tapegrad/models/module.hpp"

namespace tg {

enum class PositionalKind { sinusoidal, learned };
/// "sinusoidal", "learned".
const char* positional_kind_name(PositionalKind kind);
/// The kind named as above; throws Error listing the names for anything else.
PositionalKind parse_positional_kind(const std::string& name);

struct PositionalEncodingOptions {
  PositionalKind kind = PositionalKind::sinusoidal;  ///< which class make_positional_encoding builds
  std::size_t d_model = 0;                           ///< d, the size of the embeddings it is added to
  std::size_t max_length = 1024;                     ///< learned: positions [0, max_length) (sinusoidal: no limit)
  DType dtype = DType::f32;                          ///< learned: dtype of the parameter
};

class PositionalEncoding : public Module {
 public:
  /// x [..., L, d] -> x + PE[offset .. offset + L) [..., L, d]; L >= 1.
  virtual Var forward(const Var& x, std::size_t offset) const = 0;
  const PositionalEncodingOptions& options() const { return options_; }

 protected:
  /// Throws Error naming the field unless d_model >= 1 (and max_length >= 1 for learned).
  explicit PositionalEncoding(const PositionalEncodingOptions& options);
  /// Throws ShapeError naming `who` and x's shape unless x is [..., L, d] with L >= 1.
  void check_input(const Var& x, const char* who) const;

  PositionalEncodingOptions options_;
};

/// A positional encoding of options.kind.
std::unique_ptr<PositionalEncoding> make_positional_encoding(const PositionalEncodingOptions& options,
                                                             Generator& gen = default_generator());

}  // namespace tg
