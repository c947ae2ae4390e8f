#pragma once
// The Transformer workload of bench/SPEC.md ("The Transformer step") in LibTorch, as a LibTorch
// user writes it: torch::nn::Transformer (post-norm, ReLU, dropout 0; LibTorch's C++ Transformer
// is sequence-first), token embeddings scaled by sqrt(d) plus sinusoidal positions, an output
// projection, mean cross-entropy over non-padding targets, Adam. Its decoding recomputes the
// decoder over the whole prefix at every step: torch::nn::TransformerDecoder has no cache.
#include <cmath>
#include <cstdint>
#include <memory>
#include <vector>

#include <torch/torch.h>

#include "torch_search.hpp"

namespace bench {

struct TransformerSize {
  const char* name;
  std::size_t batch, vocab, d_model, heads, feedforward, layers, length;
  int reps;  // timed samples per configuration
};

inline const TransformerSize kTransformerSizes[] = {{"transformer-small", 32, 1000, 256, 4, 1024, 3, 20, 10},
                                                    {"transformer", 64, 8000, 256, 4, 1024, 3, 30, 5}};

// Forward GEMM FLOPs of one step (B*T tokens, source length = target length = T), counted as
// SPEC.md counts the recurrent model's: projections, attention products and the output layer.
inline double transformer_forward_flops(const TransformerSize& s) {
  const double d = double(s.d_model), f = double(s.feedforward), v = double(s.vocab), t = double(s.length);
  const double attention = 4 * t * d;  // scores and context of one query over T keys
  const double encoder = 8 * d * d + 4 * d * f + attention;
  const double decoder = 8 * d * d + attention    // self-attention
                         + 8 * d * d + attention  // cross-attention (keys and values of the memory)
                         + 4 * d * f;
  const double per_token = double(s.layers) * (encoder + decoder) + 2 * d * v;
  return per_token * double(s.batch) * t;
}

// Sinusoidal positions [max_length, d] ("Attention Is All You Need").
inline torch::Tensor sinusoidal_positions(long max_length, long d) {
  torch::Tensor pe = torch::zeros({max_length, d});
  const torch::Tensor position = torch::arange(max_length, torch::kFloat).unsqueeze(1);
  const torch::Tensor div = torch::exp(torch::arange(0, d, 2, torch::kFloat) * (-std::log(10000.0) / double(d)));
  pe.index_put_({torch::indexing::Slice(), torch::indexing::Slice(0, torch::indexing::None, 2)},
                torch::sin(position * div));
  pe.index_put_({torch::indexing::Slice(), torch::indexing::Slice(1, torch::indexing::None, 2)},
                torch::cos(position * div).narrow(1, 0, d / 2));
  return pe;
}

struct TorchTransformer : torch::nn::Module {
  torch::nn::Embedding source_embedding{nullptr}, target_embedding{nullptr};
  torch::nn::Transformer transformer{nullptr};
  torch::nn::Linear output{nullptr};
  torch::Tensor positions;
  double scale;

  explicit TorchTransformer(const TransformerSize& s, long max_length = 256) {
    const auto V = static_cast<long>(s.vocab), d = static_cast<long>(s.d_model);
    source_embedding =
        register_module("source_embedding", torch::nn::Embedding(torch::nn::EmbeddingOptions(V, d).padding_idx(0)));
    target_embedding =
        register_module("target_embedding", torch::nn::Embedding(torch::nn::EmbeddingOptions(V, d).padding_idx(0)));
    transformer = register_module("transformer",
                                  torch::nn::Transformer(torch::nn::TransformerOptions(d, static_cast<long>(s.heads))
                                                             .num_encoder_layers(static_cast<long>(s.layers))
                                                             .num_decoder_layers(static_cast<long>(s.layers))
                                                             .dim_feedforward(static_cast<long>(s.feedforward))
                                                             .dropout(0.0)));
    output = register_module("output", torch::nn::Linear(d, V));
    positions = register_buffer("positions", sinusoidal_positions(max_length, d));
    scale = std::sqrt(double(d));
  }

  // ids [B, L] -> [L, B, d]: embeddings scaled by sqrt(d) plus positions, sequence-first.
  torch::Tensor embed(torch::nn::Embedding& embedding, const torch::Tensor& ids) {
    return (embedding(ids) * scale + positions.narrow(0, 0, ids.size(1))).transpose(0, 1);
  }

  torch::Tensor encode(const torch::Tensor& source) {
    return transformer->encoder.forward(embed(source_embedding, source), torch::Tensor(), source.eq(0));
  }

  // The decoder over the whole prefix target_in [B, T] -> log-probabilities or logits [B, T, V].
  torch::Tensor decode(const torch::Tensor& memory, const torch::Tensor& source, const torch::Tensor& target_in) {
    const torch::Tensor causal = transformer->generate_square_subsequent_mask(target_in.size(1));
    const torch::Tensor h = transformer->decoder.forward(embed(target_embedding, target_in), memory, causal,
                                                         torch::Tensor(), target_in.eq(0), source.eq(0));
    return output(h.transpose(0, 1));
  }

  torch::Tensor loss(const torch::Tensor& source, const torch::Tensor& target_in, const torch::Tensor& target_out) {
    const torch::Tensor logits = decode(encode(source), source, target_in);
    return torch::nn::functional::cross_entropy(logits.reshape({-1, logits.size(2)}), target_out.reshape(-1),
                                                torch::nn::functional::CrossEntropyFuncOptions().ignore_index(0));
  }
};

struct TheirsTransformerStep {
  std::shared_ptr<TorchTransformer> model;
  torch::optim::Adam adam;
  torch::Tensor source, target_in, target_out;

  TheirsTransformerStep(const TransformerSize& s, const std::vector<std::int64_t>& source_ids,
                        const std::vector<std::int64_t>& target_in_ids, const std::vector<std::int64_t>& target_out_ids)
      : model(std::make_shared<TorchTransformer>(s)),
        adam(model->parameters(), torch::optim::AdamOptions(1e-3)),
        source(tensor(source_ids, s)),
        target_in(tensor(target_in_ids, s)),
        target_out(tensor(target_out_ids, s)) {}

  static torch::Tensor tensor(const std::vector<std::int64_t>& ids, const TransformerSize& s) {
    return torch::tensor(ids, torch::kLong).reshape({static_cast<long>(s.batch), static_cast<long>(s.length)});
  }

  void operator()() {
    adam.zero_grad();
    torch::Tensor loss = model->loss(source, target_in, target_out);
    loss.backward();
    adam.step();
  }
};

// LibTorch's decoding state: the memory computed once (rows repeated per beam), the prefix of
// each row, and the decoder run over all of it at every step.
struct TorchTransformerPrefix {
  TorchTransformer& m;
  torch::Tensor source, memory, prefix;

  TorchTransformerPrefix(TorchTransformer& model, const torch::Tensor& source_ids, long beam) : m(model) {
    torch::NoGradGuard no_grad;
    source = source_ids;
    memory = m.encode(source);  // [S, B, d]
    if (beam > 1) {
      const torch::Tensor rows_of = torch::arange(source.size(0)).repeat_interleave(beam);
      source = source.index_select(0, rows_of);
      memory = memory.index_select(1, rows_of);
    }
    prefix = torch::empty({source.size(0), 0}, torch::kLong);
  }
  torch::Tensor operator()(const torch::Tensor& tokens) {
    prefix = torch::cat({prefix, tokens.unsqueeze(1)}, 1);
    const torch::Tensor logits = m.decode(memory, source, prefix);
    return torch::log_softmax(logits.select(1, prefix.size(1) - 1), 1);
  }
  void reorder(const torch::Tensor& order) { prefix = prefix.index_select(0, order); }
};

inline Tokens torch_transformer_greedy(TorchTransformer& m, const torch::Tensor& source, long max_length) {
  TorchTransformerPrefix state(m, source, 1);
  return torch_greedy_search(source.size(0), max_length, state);
}

inline Tokens torch_transformer_beam(TorchTransformer& m, const torch::Tensor& source, long beam, long max_length,
                                     double alpha) {
  TorchTransformerPrefix state(m, source, beam);
  return torch_beam_search(source.size(0), beam, max_length, alpha, state,
                           [&](const torch::Tensor& order) { state.reorder(order); });
}

}  // namespace bench
