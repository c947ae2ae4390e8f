// `tapegrad eval CHECKPOINT`: scores a saved model on a split of its task
// (dev or test) or on a TSV file: WER and PER for G2P, BLEU-4 and ROUGE for
// text; greedy or beam search.
#include <memory>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "tapegrad/cli/bounds.hpp"
#include "tapegrad/cli/commands.hpp"
#include "tapegrad/cli/options.hpp"
#include "tapegrad/train/evaluate.hpp"
#include "tapegrad/train/saved_model.hpp"

namespace tg::cli {
namespace {

struct EvalConfig {
  std::string checkpoint;
  DecodingOptions decoding;
  std::string split = "test";
  std::string file;
  std::string metric = "auto";
  std::size_t limit = 0;
};

void run_eval(const EvalConfig& c) {
  const DecodingOptions& d = c.decoding;
  const DecodingModels loaded = load_for_decoding(c.checkpoint, d.ensemble, d.rescore);
  const std::vector<DecodingGroup>& groups = loaded.groups;
  const SavedModel& saved = loaded.models[0];
  const TaskOptions task = with_max_source_length(saved.task, d.max_source_length);
  // A split reads only its own file: the vocabularies come with the model.
  std::vector<Item> items =
      c.file.empty() ? load_split(task, c.split, saved.source_vocab, saved.target_vocab) : read_items_for(c.file, task);
  const std::string name = c.file.empty() ? c.split : c.file;
  if (c.limit && items.size() > c.limit) items.resize(c.limit);
  if (items.empty()) throw Error(fmt::format("{}: nothing to evaluate", name));
  const std::string metric = metric_for(c.metric, saved.task.task);
  const DecodeChoice choice{
      .beam = d.beam, .length_penalty = d.length_penalty, .reversed_target = groups[0].reversed_target};
  std::vector<Tokens> sources;
  for (const Item& item : items) sources.push_back(item.source);
  const Scores s =
      score_predictions(items, decode_groups(groups, sources, saved.source_vocab, saved.target_vocab, choice), metric);
  const std::size_t ensemble = groups[0].models.size();
  fmt::print("{} ({}{}{})\n", s.line(name, metric), d.beam > 1 ? fmt::format("beam {}", d.beam) : "greedy",
             ensemble > 1 ? fmt::format(", ensemble of {}", ensemble) : "",
             groups.size() > 1 ? fmt::format(", rescored with {} more", groups.size() - 1) : "");
}

}  // namespace

void add_eval_command(CLI::App& app) {
  auto config = std::make_shared<EvalConfig>();
  CLI::App* c = app.add_subcommand("eval", "score a saved model on dev, test or a TSV file");
  c->add_option("checkpoint", config->checkpoint, "a model saved by tapegrad train")->required();
  add_decoding_options(*c, config->decoding);
  CLI::Option* split = c->add_option("--split", config->split, "train, dev or test of the model's task")
                           ->check(CLI::IsMember({"train", "dev", "test"}))
                           ->capture_default_str();
  c->add_option("--file", config->file, "a TSV file (source TAB target) instead of a split")
      ->check(CLI::ExistingFile)
      ->excludes(split);
  c->add_option("--metric", config->metric, "wer, bleu or auto (wer for g2p)")
      ->check(CLI::IsMember({"auto", "wer", "bleu"}))
      ->capture_default_str();
  c->add_option("--limit", config->limit, "score only the first N items (0: all)")
      ->check(whole_in(0, max_items))
      ->capture_default_str();
  c->callback([config]() { run_eval(*config); });
}

}  // namespace tg::cli
