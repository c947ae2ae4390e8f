// `tapegrad prune IN OUT --sparsity S`: a saved model with the weights of its products pruned by
// magnitude (models/prune.hpp), globally or per layer, written as a float checkpoint that
// `train --init OUT` fine-tunes with the pruned weights kept at zero (docs/compression.md).
#include <memory>
#include <string>

#include <fmt/format.h>

#include "tapegrad/base/error.hpp"
#include "tapegrad/cli/bounds.hpp"
#include "tapegrad/cli/commands.hpp"
#include "tapegrad/cli/options.hpp"
#include "tapegrad/io/checkpoint.hpp"
#include "tapegrad/models/prune.hpp"
#include "tapegrad/models/quantize.hpp"
#include "tapegrad/train/saved_model.hpp"

namespace tg::cli {
namespace {

struct PruneCommand {
  std::string in, out;
  double sparsity = 0.5;
  std::string scope = "global";
  bool overwrite = false;
};

void run_prune(const PruneCommand& c) {
  check_output_file("prune", c.in, c.out, c.overwrite);
  SavedModel saved = load_saved_model(c.in);
  saved.int8.reset();  // an int8 model is pruned as the float model it stands for
  PruningMasks masks(quantizable_weights(*saved.model, false));
  masks.prune_zeros();  // a model pruned before keeps its zeros
  const bool global = c.scope == "global";
  masks.prune_to(c.sparsity, global ? PruneScope::global : PruneScope::per_layer);
  Metadata metadata = model_metadata(saved.options, saved.source_vocab, saved.target_vocab, saved.task);
  metadata[kPruningKey] = pruning_metadata(masks.sparsity(), global);
  save_checkpoint(*saved.model, c.out, metadata);
  std::size_t weights = 0;
  for (const NamedVar& p : quantizable_weights(*saved.model, false)) weights += p.var.size();
  fmt::print("{}: {:.1f}% of the {} weights of products ({} of {} parameters) pruned {}\n", c.out,
             100 * masks.sparsity(), masks.size(), weights, saved.model->parameter_count(),
             global ? "globally" : "in each layer");
}

}  // namespace

void add_prune_command(CLI::App& app) {
  auto command = std::make_shared<PruneCommand>();
  CLI::App* c = app.add_subcommand("prune", "write a saved model with its smallest weights pruned to zero");
  c->add_option("in", command->in, "a model saved by tapegrad train")->required()->check(CLI::ExistingFile);
  c->add_option("out", command->out, "the file to write")->required();
  c->add_option("--sparsity", command->sparsity, "the fraction of the weights of products to prune")
      ->check(number_in(0, 0.99))
      ->capture_default_str();
  c->add_option("--scope", command->scope,
                "global: the smallest weights of all layers together; layer: the same fraction of each")
      ->check(CLI::IsMember({"global", "layer"}))
      ->capture_default_str();
  c->add_flag("--overwrite", command->overwrite, "replace OUT if it exists");
  c->callback([command]() { run_prune(*command); });
}

}  // namespace tg::cli
