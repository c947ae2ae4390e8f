// A user's own Transformer in about 40 lines: a character-level language model, token
// embeddings plus sinusoidal positions into a causal TransformerEncoder (each position sees
// only itself and those before it), trained until its loss has fallen. Run as a test.
#include <cmath>
#include <cstdio>
#include <string>

#include <tapegrad.hpp>

class TinyGPT : public tg::Module {
 public:
  explicit TinyGPT(std::size_t vocab, std::size_t d = 32, tg::Generator& gen = tg::default_generator())
      : embedding({.num_embeddings = vocab, .embedding_dim = d}, gen),
        positions({.d_model = d}, gen),
        blocks({.layer = {.d_model = d,
                          .nhead = 4,
                          .dim_feedforward = 4 * d,
                          .dropout = 0.0,
                          .batch_first = true,
                          .norm_first = true},
                .num_layers = 2,
                .norm = true},
               gen),
        head({.in_features = d, .out_features = vocab}, gen),
        scale_(std::sqrt(double(d))) {
    register_module("embedding", embedding);
    register_module("blocks", blocks);
    register_module("head", head);
  }
  // ids [B, T] -> logits [B, T, vocab]
  tg::Var forward(const tg::Indices& ids) const {
    const tg::Var x = positions.forward(embedding.forward(ids) * scale_, /*offset=*/0);
    return head.forward(blocks.forward(x, {.src_is_causal = true}));
  }

  tg::Embedding embedding;
  tg::SinusoidalPositionalEncoding positions;
  tg::TransformerEncoder blocks;
  tg::Linear head;

 private:
  double scale_;
};

int main() {
  const std::string text = "the quick brown fox jumps over the lazy dog ";
  tg::Indices input = tg::Indices::from_shape({1, text.size() - 1}), next = input;
  for (std::size_t i = 0; i + 1 < text.size(); ++i) {
    input(0, i) = text[i] == ' ' ? 0 : text[i] - 'a' + 1;
    next(0, i) = text[i + 1] == ' ' ? 0 : text[i + 1] - 'a' + 1;
  }
  tg::manual_seed(0);
  TinyGPT model(27);
  tg::Adam adam(model.parameters(), {.lr = 3e-3});
  double first = 0, last = 0;
  for (int step = 0; step < 100; ++step) {
    adam.zero_grad();
    tg::Var loss = tg::cross_entropy(model.forward(input), next);
    loss.backward();
    adam.step();
    tg::current_tape().reset();
    (step == 0 ? first : last) = loss.item();
  }
  std::printf("transformer_lm: %zu parameters, loss %.3f -> %.3f\n", model.parameter_count(), first, last);
  return last < first / 4 ? 0 : 1;
}
