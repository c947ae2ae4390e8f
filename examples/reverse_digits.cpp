// The first main job: a vanilla-RNN encoder-decoder learns to reverse digit
// strings ("20417" -> "71402"). It prints the loss falling, then the exact-match
// accuracy of greedy decoding on held-out strings, and writes the graph of one
// training step as SVG.
//
//   encoder:  h_t = tanh(emb(x_t) W_xh + h_{t-1} W_hh + b_h),  h_0 = 0
//   decoder:  s_t = tanh(emb(y_{t-1}) U_xh + s_{t-1} U_hh + c_h),  s_0 = h_L,  y_{-1} = BOS
//   output:   p(y_t) = softmax(s_t W_o + b_o)
//   loss:     mean cross-entropy over all target digits (teacher forcing)
#include <cmath>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <tapegrad.hpp>
#include <tapegrad/graphviz/render.hpp>

namespace {

constexpr std::int64_t kDigits = 10;
constexpr std::int64_t kBos = 10;  // decoder start token
constexpr std::int64_t kVocab = 11;

struct RnnCell {
  tg::Var weight_ih;  // [E, H]
  tg::Var weight_hh;  // [H, H]
  tg::Var bias;       // [H]
};

struct Model {
  tg::Var embedding;  // [V, E]
  RnnCell encoder;
  RnnCell decoder;
  tg::Var out_weight;  // [H, 10]
  tg::Var out_bias;    // [10]

  std::vector<tg::Var> parameters() const {
    return {embedding,         encoder.weight_ih, encoder.weight_hh, encoder.bias, decoder.weight_ih,
            decoder.weight_hh, decoder.bias,      out_weight,        out_bias};
  }
};

// PyTorch's default RNN initialisation: uniform in [-1/sqrt(H), 1/sqrt(H)].
tg::Var uniform_parameter(const tg::Shape& shape, double bound, std::uint64_t seed, const std::string& name) {
  return tg::Var::parameter(tg::Tensor::uniform(shape, -bound, bound, seed), name);
}

Model make_model(std::size_t embed, std::size_t hidden, std::uint64_t seed) {
  double bound = 1.0 / std::sqrt(static_cast<double>(hidden));
  auto cell = [&](const std::string& prefix, std::uint64_t s) {
    return RnnCell{uniform_parameter({embed, hidden}, bound, s, prefix + ".weight_ih"),
                   uniform_parameter({hidden, hidden}, bound, s + 1, prefix + ".weight_hh"),
                   uniform_parameter({hidden}, bound, s + 2, prefix + ".bias")};
  };
  return Model{tg::Var::parameter(tg::Tensor::normal({kVocab, embed}, 0, 1, seed), "embedding.weight"),
               cell("encoder", seed + 10), cell("decoder", seed + 20),
               uniform_parameter({hidden, kDigits}, bound, seed + 30, "out.weight"),
               uniform_parameter({kDigits}, bound, seed + 31, "out.bias")};
}

// x: [B, E], h: [B, H] -> [B, H]
tg::Var rnn_step(const RnnCell& cell, const tg::Var& x, const tg::Var& h) {
  return tg::tanh(tg::matmul(x, cell.weight_ih) + tg::matmul(h, cell.weight_hh) + cell.bias);
}

// Column t of a [B, L] batch of token ids: [B].
tg::Indices column(const tg::Indices& ids, std::size_t t) {
  tg::Indices col = tg::Indices::from_shape({ids.shape()[0]});
  for (std::size_t b = 0; b < ids.shape()[0]; ++b) col(b) = ids(b, t);
  return col;
}

tg::Var encode(const Model& m, const tg::Indices& source, std::size_t hidden) {
  tg::NameScope scope("encoder");
  std::size_t batch = source.shape()[0];
  tg::Var h(tg::Tensor::zeros({batch, hidden}));
  for (std::size_t t = 0; t < source.shape()[1]; ++t) {
    tg::NameScope step("step");
    h = rnn_step(m.encoder, tg::embedding(m.embedding, column(source, t)), h);
  }
  return h;
}

// Teacher forcing: logits [B, L, 10] for the targets given the previous target digits.
tg::Var decode_teacher_forced(const Model& m, const tg::Var& h0, const tg::Indices& target) {
  tg::NameScope scope("decoder");
  std::size_t batch = target.shape()[0], length = target.shape()[1];
  tg::Var s = h0;
  tg::Indices previous = tg::Indices::from_shape({batch});
  previous.fill(kBos);
  std::vector<tg::Var> logits;
  for (std::size_t t = 0; t < length; ++t) {
    tg::NameScope step("step");
    s = rnn_step(m.decoder, tg::embedding(m.embedding, previous), s);
    logits.push_back(tg::matmul(s, m.out_weight) + m.out_bias);
    previous = column(target, t);
  }
  return tg::stack(logits, 1);
}

// Greedy decoding without teacher forcing: [B, L] predicted digits.
tg::Indices decode_greedy(const Model& m, const tg::Var& h0, std::size_t length) {
  tg::NoGradGuard no_grad;
  std::size_t batch = h0.shape()[0];
  tg::Var s = h0;
  tg::Indices previous = tg::Indices::from_shape({batch});
  previous.fill(kBos);
  tg::Indices out = tg::Indices::from_shape({batch, length});
  for (std::size_t t = 0; t < length; ++t) {
    s = rnn_step(m.decoder, tg::embedding(m.embedding, previous), s);
    tg::Tensor logits = (tg::matmul(s, m.out_weight) + m.out_bias).value();
    for (std::size_t b = 0; b < batch; ++b) {
      std::int64_t best = 0;
      for (std::int64_t c = 1; c < kDigits; ++c) {
        if (logits.at(b * kDigits + c) > logits.at(b * kDigits + best)) best = c;
      }
      out(b, t) = best;
      previous(b) = best;
    }
  }
  return out;
}

struct Batch {
  tg::Indices source;  // [B, L]
  tg::Indices target;  // [B, L]: source reversed
};

Batch random_batch(std::size_t batch, std::size_t length, std::mt19937_64& gen) {
  std::uniform_int_distribution<std::int64_t> digit(0, kDigits - 1);
  Batch b{tg::Indices::from_shape({batch, length}), tg::Indices::from_shape({batch, length})};
  for (std::size_t i = 0; i < batch; ++i) {
    for (std::size_t t = 0; t < length; ++t) b.source(i, t) = digit(gen);
    for (std::size_t t = 0; t < length; ++t) b.target(i, t) = b.source(i, length - 1 - t);
  }
  return b;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Train a vanilla-RNN encoder-decoder to reverse digit strings"};
  std::size_t steps = 1500, batch = 64, length = 5, embed = 16, hidden = 128;
  double lr = 3e-3;
  std::uint64_t seed = 1;
  std::string graph_path = "reverse_digits_graph.svg";
  app.add_option("--steps", steps, "training steps")->capture_default_str();
  app.add_option("--batch", batch, "strings per step")->capture_default_str();
  app.add_option("--length", length, "digits per string")->capture_default_str();
  app.add_option("--hidden", hidden, "hidden size")->capture_default_str();
  app.add_option("--lr", lr, "Adam learning rate")->capture_default_str();
  app.add_option("--seed", seed, "random seed")->capture_default_str();
  app.add_option("--graph", graph_path, "where to write the SVG of one training step ('' for none)")
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  Model model = make_model(embed, hidden, seed);
  tg::Adam optimizer(model.parameters(), tg::AdamOptions{.lr = lr});
  std::mt19937_64 gen(seed);
  tg::Tape& tape = tg::current_tape();

  std::printf("reversing %zu-digit strings: %zu steps of %zu strings, hidden %zu\n", length, steps, batch, hidden);
  double running = 0;
  for (std::size_t step = 1; step <= steps; ++step) {
    tape.reset();
    optimizer.zero_grad();
    Batch b = random_batch(batch, length, gen);
    tg::Var logits = decode_teacher_forced(model, encode(model, b.source, hidden), b.target);
    tg::Var loss = tg::cross_entropy(logits, b.target);
    if (step == 1 && !graph_path.empty()) {
      tg::write_graph(tape, graph_path, tg::DotOptions{.collapse_repeated_scopes = true});
      std::printf("wrote the graph of one training step (%zu ops) to %s\n", tape.size(), graph_path.c_str());
    }
    loss.backward();
    optimizer.step();
    running = step == 1 ? loss.item() : 0.95 * running + 0.05 * loss.item();
    if (step == 1 || step % 100 == 0) std::printf("step %5zu  loss %.4f\n", step, running);
  }

  std::mt19937_64 held_out(seed + 1000);
  Batch test = random_batch(1000, length, held_out);
  tg::Indices predicted = decode_greedy(model, encode(model, test.source, hidden), length);
  std::size_t exact = 0, digits_right = 0;
  for (std::size_t i = 0; i < 1000; ++i) {
    bool all = true;
    for (std::size_t t = 0; t < length; ++t) {
      bool right = predicted(i, t) == test.target(i, t);
      digits_right += right;
      all = all && right;
    }
    exact += all;
  }
  std::printf("held-out: %.1f%% of strings reversed exactly, %.1f%% of digits right\n", exact / 10.0,
              100.0 * static_cast<double>(digits_right) / static_cast<double>(1000 * length));
  return 0;
}
