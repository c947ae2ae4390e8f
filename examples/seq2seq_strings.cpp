// The main job for now: the zoo's attention Seq2Seq learns to reverse (or
// sort) strings of 3 to 12 symbols, with variable lengths and padding. It
// prints the loss falling, exact-match accuracy on held-out strings with
// greedy decoding and beam search, a few decoded examples, writes the graph
// of one training step (decoder steps collapsed) as SVG, and saves the model
// as a safetensors checkpoint.
//
//   bash tools/run.sh                  # reverse, the default
//   bash tools/run.sh --task sort      # or any option below (--help)
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <random>
#include <string>
#include <unordered_set>
#include <vector>

#include <CLI/CLI.hpp>
#include <tapegrad.hpp>
#include <tapegrad/graphviz/render.hpp>

namespace {

constexpr std::int64_t kPad = 0, kBos = 1, kEos = 2, kFirstSymbol = 3;

struct Config {
  std::string task = "reverse";
  std::size_t symbols = 20;
  std::size_t min_length = 3, max_length = 12;
  std::size_t steps = 600, batch = 64, held_out = 500;
  std::size_t embed = 32, hidden = 64;
  std::string attention = "additive";
  double lr = 3e-3;
  std::size_t beam = 5;
  std::uint64_t seed = 1;
  std::string graph = "out/seq2seq_graph.svg";
  std::string checkpoint = "out/seq2seq_strings.safetensors";
};

using Sequence = std::vector<std::int64_t>;

struct Example {
  Sequence source, target;
};

Sequence transform(const std::string& task, Sequence s) {
  if (task == "sort") {
    std::sort(s.begin(), s.end());
  } else {
    std::reverse(s.begin(), s.end());
  }
  return s;
}

std::string text(const Sequence& s) {
  std::string out;
  for (std::int64_t t : s) {
    if (t >= kFirstSymbol) out += static_cast<char>('a' + (t - kFirstSymbol));
  }
  return out;
}

class Data {
 public:
  Data(const Config& c) : c_(c), gen_(c.seed) {
    // Held-out strings are drawn first and never appear in training.
    while (held_out_.size() < c.held_out) {
      Example e = draw();
      if (seen_.insert(text(e.source)).second) held_out_.push_back(e);
    }
  }
  std::vector<Example> batch() {
    std::vector<Example> out;
    while (out.size() < c_.batch) {
      Example e = draw();
      if (!seen_.count(text(e.source))) out.push_back(e);
    }
    return out;
  }
  const std::vector<Example>& held_out() const { return held_out_; }

 private:
  Example draw() {
    std::uniform_int_distribution<std::size_t> length(c_.min_length, c_.max_length);
    std::uniform_int_distribution<std::int64_t> symbol(kFirstSymbol, kFirstSymbol + std::int64_t(c_.symbols) - 1);
    Sequence s(length(gen_));
    for (auto& t : s) t = symbol(gen_);
    return {s, transform(c_.task, s)};
  }
  Config c_;
  std::mt19937_64 gen_;
  std::unordered_set<std::string> seen_;
  std::vector<Example> held_out_;
};

// A padded batch: source [B, S] with lengths, target_in [BOS y] and target_out [y EOS], [B, T].
struct Batch {
  tg::Indices source, target_in, target_out;
  std::vector<std::int64_t> lengths;
};

Batch pack(const std::vector<Example>& examples) {
  std::size_t s_len = 0, t_len = 0;
  for (const Example& e : examples) {
    s_len = std::max(s_len, e.source.size());
    t_len = std::max(t_len, e.target.size() + 1);
  }
  Batch b;
  b.source = tg::Indices::from_shape({examples.size(), s_len});
  b.target_in = tg::Indices::from_shape({examples.size(), t_len});
  b.target_out = tg::Indices::from_shape({examples.size(), t_len});
  b.source.fill(kPad);
  b.target_in.fill(kPad);
  b.target_out.fill(kPad);
  for (std::size_t i = 0; i < examples.size(); ++i) {
    const Example& e = examples[i];
    for (std::size_t t = 0; t < e.source.size(); ++t) b.source(i, t) = e.source[t];
    b.target_in(i, 0) = kBos;
    for (std::size_t t = 0; t < e.target.size(); ++t) {
      b.target_in(i, t + 1) = e.target[t];
      b.target_out(i, t) = e.target[t];
    }
    b.target_out(i, e.target.size()) = kEos;
    b.lengths.push_back(static_cast<std::int64_t>(e.source.size()));
  }
  return b;
}

Sequence strip_eos(Sequence s) {
  if (!s.empty() && s.back() == kEos) s.pop_back();
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  Config c;
  CLI::App app{"Attention Seq2Seq on a string task (tapegrad's zoo)"};
  app.add_option("--task", c.task, "reverse or sort")->check(CLI::IsMember({"reverse", "sort"}));
  app.add_option("--steps", c.steps, "training steps");
  app.add_option("--batch", c.batch, "strings per batch");
  app.add_option("--hidden", c.hidden, "encoder hidden size per direction");
  app.add_option("--embed", c.embed, "embedding size");
  app.add_option("--attention", c.attention, "additive, dot, general, scaled_dot or multi_head");
  app.add_option("--lr", c.lr, "Adam learning rate");
  app.add_option("--beam", c.beam, "beam size for the held-out evaluation");
  app.add_option("--seed", c.seed, "seed of the data and the model");
  app.add_option("--graph", c.graph, "where to write the graph of one training step (.svg, .png, .dot; empty: none)");
  app.add_option("--checkpoint", c.checkpoint, "where to save the trained model (safetensors; empty: nowhere)");
  CLI11_PARSE(app, argc, argv);

  tg::manual_seed(c.seed);
  Data data(c);
  tg::Seq2SeqOptions options;
  options.source_vocab_size = options.target_vocab_size = kFirstSymbol + c.symbols;
  options.embedding_size = c.embed;
  options.hidden_size = c.hidden;
  options.bidirectional = true;  // decoder hidden 2H through the identity bridge
  options.attention.kind = tg::parse_attention_kind(c.attention);
  options.attention.num_heads = 4;
  options.pad_id = kPad;
  options.bos_id = kBos;
  options.eos_id = kEos;
  tg::Seq2Seq model(options);
  tg::Adam adam(model.parameters(), {.lr = c.lr});
  std::printf("seq2seq_strings: task %s, strings of %zu-%zu symbols over %zu, %zu parameters, %s attention\n",
              c.task.c_str(), c.min_length, c.max_length, c.symbols, model.parameter_count(), c.attention.c_str());

  auto start = std::chrono::steady_clock::now();
  double running = 0;
  for (std::size_t step = 1; step <= c.steps; ++step) {
    Batch b = pack(data.batch());
    adam.zero_grad();
    tg::Var loss = model.loss(b.source, b.lengths, b.target_in, b.target_out);
    loss.backward();
    adam.step();
    running = step == 1 ? loss.item() : 0.95 * running + 0.05 * loss.item();
    if (step == 1 || step % 100 == 0) {
      double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      std::printf("step %5zu  loss %.4f  (%.1f s)\n", step, running, seconds);
      std::fflush(stdout);
    }
    if (step == 1 && !c.graph.empty()) {
      std::filesystem::path parent = std::filesystem::path(c.graph).parent_path();
      if (!parent.empty()) std::filesystem::create_directories(parent);
      tg::write_graph(tg::current_tape(), c.graph, {.collapse_repeated_scopes = true, .graph_name = "seq2seq_step"});
      std::printf("graph of one training step written to %s\n", c.graph.c_str());
    }
    tg::current_tape().reset();
  }

  model.eval();
  std::vector<Example> held = data.held_out();
  Batch b = pack(held);
  std::vector<tg::Hypothesis> greedy = tg::greedy_decode(model, b.source, b.lengths, {.max_length = c.max_length + 1});
  std::vector<std::vector<tg::Hypothesis>> beam =
      tg::beam_search(model, b.source, b.lengths, {.beam_size = c.beam, .max_length = c.max_length + 1});
  std::size_t greedy_right = 0, beam_right = 0;
  for (std::size_t i = 0; i < held.size(); ++i) {
    greedy_right += strip_eos(greedy[i].tokens) == held[i].target;
    beam_right += strip_eos(beam[i].front().tokens) == held[i].target;
  }
  std::printf("held-out exact match (%zu strings): greedy %.1f%%, beam %zu %.1f%%\n", held.size(),
              100.0 * greedy_right / held.size(), c.beam, 100.0 * beam_right / held.size());
  for (std::size_t i = 0; i < 5; ++i) {
    std::printf("  %-12s -> %-12s (expected %s, score %.3f)\n", text(held[i].source).c_str(),
                text(beam[i].front().tokens).c_str(), text(held[i].target).c_str(), beam[i].front().score);
  }
  if (!c.checkpoint.empty()) {
    // Saved atomically; loaded back into a fresh model, it must decode the same.
    tg::save_checkpoint(model, c.checkpoint, {{"task", c.task}, {"steps", std::to_string(c.steps)}});
    tg::Seq2Seq reloaded(options);
    tg::load_checkpoint(reloaded, c.checkpoint);
    reloaded.eval();
    std::vector<tg::Hypothesis> again =
        tg::greedy_decode(reloaded, b.source, b.lengths, {.max_length = c.max_length + 1});
    bool same = true;
    for (std::size_t i = 0; i < held.size(); ++i) same = same && again[i].tokens == greedy[i].tokens;
    std::printf("checkpoint written to %s (tapegrad inspect %s); reloaded model decodes %s\n", c.checkpoint.c_str(),
                c.checkpoint.c_str(), same ? "the same" : "DIFFERENTLY");
    if (!same) return 1;
  }
  return 0;
}
