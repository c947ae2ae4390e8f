// `tapegrad graph CHECKPOINT --out step.svg`: the graph of one training step
// (forward and loss) of a saved model, drawn by Graphviz as SVG or PNG (or
// DOT text), with repeated scopes (decoder steps) collapsed unless --expand.
#include <memory>

#include <fmt/format.h>

#include "tapegrad/autodiff/tape.hpp"
#include "tapegrad/cli/bounds.hpp"
#include "tapegrad/cli/commands.hpp"
#include "tapegrad/data/batch.hpp"
#include "tapegrad/graphviz/render.hpp"
#include "tapegrad/train/saved_model.hpp"

namespace tg::cli {
namespace {

struct GraphConfig {
  std::string checkpoint;
  std::string out = "step.svg";
  std::size_t batch = 2;
  std::size_t length = 5;
  bool expand = false;
};

void run_graph(const GraphConfig& c) {
  SavedModel saved = load_saved_model(c.checkpoint);
  saved.model->train();
  // A small batch of ordinary tokens (after the specials): the graph's shape
  // depends on the lengths, not on which tokens they are.
  std::vector<Example> examples;
  for (std::size_t b = 0; b < c.batch; ++b) {
    Example e;
    for (std::size_t t = 0; t < c.length; ++t) {
      e.source.push_back(Vocab::num_specials +
                         std::int64_t((b + t) % (saved.source_vocab.size() - Vocab::num_specials)));
      e.target.push_back(Vocab::num_specials +
                         std::int64_t((b + 2 * t) % (saved.target_vocab.size() - Vocab::num_specials)));
    }
    examples.push_back(std::move(e));
  }
  std::vector<std::size_t> rows(examples.size());
  for (std::size_t i = 0; i < rows.size(); ++i) rows[i] = i;
  Batch b = make_batch(examples, rows);
  current_tape().reset();
  Var loss = saved.model->loss(b.source, b.lengths, b.target_in, b.target_out);
  write_graph(current_tape(), c.out, {.collapse_repeated_scopes = !c.expand, .graph_name = "training_step"});
  fmt::print("graph of one training step ({} sentences of {} tokens, loss {:.4f}) written to {}\n", c.batch, c.length,
             loss.item(), c.out);
}

}  // namespace

void add_graph_command(CLI::App& app) {
  auto config = std::make_shared<GraphConfig>();
  CLI::App* c = app.add_subcommand("graph", "draw the graph of one training step of a saved model (SVG, PNG or DOT)");
  c->add_option("checkpoint", config->checkpoint, "a model saved by tapegrad train")->required();
  c->add_option("--out,-o", config->out, "output file: .svg, .png or .dot")->capture_default_str();
  c->add_option("--batch", config->batch, "sentences in the batch")->check(whole_in(1, 64))->capture_default_str();
  c->add_option("--length", config->length, "tokens per source and target")
      ->check(whole_in(1, 100))
      ->capture_default_str();
  c->add_flag("--expand", config->expand, "draw every decoder step instead of collapsing repeated scopes");
  c->callback([config]() { run_graph(*config); });
}

}  // namespace tg::cli
