#include "tapegrad/models/embedding.hpp"

#include <fmt/format.h>

#include "tapegrad/models/init.hpp"
#include "tapegrad/ops/index.hpp"

namespace tg {

Embedding::Embedding(const EmbeddingOptions& options, Generator& gen) : options_(options) {
  const auto rows = static_cast<std::int64_t>(options.num_embeddings);
  if (options.padding_idx) {
    std::int64_t p = *options.padding_idx < 0 ? *options.padding_idx + rows : *options.padding_idx;
    if (p < 0 || p >= rows) {
      throw IndexError(fmt::format("Embedding({}, {}): padding_idx {} is outside [-{}, {})", options.num_embeddings,
                                   options.embedding_dim, *options.padding_idx, rows, rows));
    }
    padding_idx_ = p;
  }
  Tensor w = init::normal({options.num_embeddings, options.embedding_dim}, 0.0, 1.0, gen, options.dtype);
  if (padding_idx_) {
    for (std::size_t e = 0; e < options.embedding_dim; ++e)
      w.set(static_cast<std::size_t>(*padding_idx_) * options.embedding_dim + e, 0.0);
  }
  register_parameter("weight", weight, std::move(w));
}

Var Embedding::forward(const Indices& ids) const { return embedding(weight, ids, padding_idx_); }

}  // namespace tg
