#pragma once
/// Embedding: a lookup table of learned vectors, as torch.nn.Embedding.
///
/// Parameter: weight [num_embeddings, embedding_dim], N(0, 1) at the start.
/// With padding_idx, that row starts at zero and never receives gradient.

#include <cstddef>
#include <cstdint>
#include <optional>

#include "tapegrad/models/module.hpp"

namespace tg {

struct EmbeddingOptions {
  std::size_t num_embeddings = 0;             ///< vocabulary size V
  std::size_t embedding_dim = 0;              ///< vector size E
  std::optional<std::int64_t> padding_idx{};  ///< row that stays zero and gets no gradient (negative counts from V)
  DType dtype = DType::f32;                   ///< dtype of the parameter
};

class Embedding : public Module {
 public:
  explicit Embedding(const EmbeddingOptions& options, Generator& gen = default_generator());
  /// ids: any shape, values in [0, V) -> [...ids.shape, E]
  Var forward(const Indices& ids) const;
  const EmbeddingOptions& options() const { return options_; }
  /// padding_idx normalised into [0, V), if any.
  std::optional<std::int64_t> padding_idx() const { return padding_idx_; }

  Var weight;  ///< [num_embeddings, embedding_dim]

 private:
  EmbeddingOptions options_;
  std::optional<std::int64_t> padding_idx_;
};

}  // namespace tg
