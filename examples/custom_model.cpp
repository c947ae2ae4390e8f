// A user's own model in about 30 lines: a character-level LSTM language model
// built from zoo modules, trained until its loss has fallen. Run as a test.
#include <cstdio>
#include <string>

#include <tapegrad.hpp>

class CharLM : public tg::Module {
 public:
  struct Options {
    std::size_t vocab = 27, embed = 16, hidden = 32;
  };
  explicit CharLM(const Options& o, tg::Generator& gen = tg::default_generator())
      : options_(o),
        embedding({.num_embeddings = o.vocab, .embedding_dim = o.embed}, gen),
        lstm({.input_size = o.embed, .hidden_size = o.hidden, .batch_first = true}, gen),
        head({.in_features = o.hidden, .out_features = o.vocab}, gen) {
    register_module("embedding", embedding);
    register_module("lstm", lstm);
    register_module("head", head);
  }
  const Options& options() const { return options_; }
  // ids [B, T] -> logits [B, T, vocab]
  tg::Var forward(const tg::Indices& ids) const { return head.forward(lstm.forward(embedding.forward(ids)).output); }

 private:
  Options options_;

 public:
  tg::Embedding embedding;
  tg::LSTM lstm;
  tg::Linear head;
};

int main() {
  const std::string text = "the quick brown fox jumps over the lazy dog ";
  tg::Indices input = tg::Indices::from_shape({1, text.size() - 1}), next = input;
  for (std::size_t i = 0; i + 1 < text.size(); ++i) {
    input(0, i) = text[i] == ' ' ? 0 : text[i] - 'a' + 1;
    next(0, i) = text[i + 1] == ' ' ? 0 : text[i + 1] - 'a' + 1;
  }
  tg::manual_seed(0);
  CharLM model({});
  tg::Adam adam(model.parameters(), {.lr = 1e-2});
  double first = 0, last = 0;
  for (int step = 0; step < 100; ++step) {
    adam.zero_grad();
    tg::Var loss = tg::cross_entropy(model.forward(input), next);
    loss.backward();
    adam.step();
    tg::current_tape().reset();
    (step == 0 ? first : last) = loss.item();
  }
  std::printf("custom_model: %zu parameters, loss %.3f -> %.3f\n", model.parameter_count(), first, last);
  return last < first / 4 ? 0 : 1;
}
