#pragma once
// The model moved between PyTorch and tapegrad: norm(tanh(proj(embed(ids)))),
// the twin of Tiny in tools/fixtures/safetensors_common.py, under the same names.
#include "tapegrad/models/embedding.hpp"
#include "tapegrad/models/layer_norm.hpp"
#include "tapegrad/models/linear.hpp"
#include "tapegrad/ops/activation.hpp"

namespace tg::test {

struct TinyOptions {
  std::size_t vocab = 7;     ///< embedding rows
  std::size_t embed = 5;     ///< embedding size
  std::size_t hidden = 4;    ///< output size
  DType dtype = DType::f32;  ///< dtype of the parameters
};

class Tiny : public Module {
 public:
  explicit Tiny(const TinyOptions& o, Generator& gen = default_generator())
      : options_(o),
        embed({.num_embeddings = o.vocab, .embedding_dim = o.embed, .padding_idx = std::nullopt, .dtype = o.dtype},
              gen),
        proj({.in_features = o.embed, .out_features = o.hidden, .dtype = o.dtype}, gen),
        norm({.normalized_shape = o.hidden, .dtype = o.dtype}, gen) {
    register_module("embed", embed);
    register_module("proj", proj);
    register_module("norm", norm);
  }
  /// ids: [batch, time] -> [batch, time, hidden]
  Var forward(const Indices& ids) const { return norm.forward(tanh(proj.forward(embed.forward(ids)))); }
  const TinyOptions& options() const { return options_; }

  TinyOptions options_;
  Embedding embed;
  Linear proj;
  LayerNorm norm;
};

}  // namespace tg::test
