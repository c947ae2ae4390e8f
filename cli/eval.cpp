// `tapegrad eval CHECKPOINT`: scores a saved model on a split of its task
// (dev or test) or on a TSV file: WER and PER for G2P, BLEU-4 and ROUGE for
// text; greedy or beam search.
#include <memory>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "bounds.hpp"
#include "commands.hpp"
#include "train/evaluate.hpp"
#include "train/saved_model.hpp"

namespace tg::cli {
namespace {

struct EvalConfig {
  std::string checkpoint;
  std::vector<std::string> ensemble;
  std::vector<std::string> rescore;
  std::string split = "test";
  std::string file;
  std::size_t beam = 5;
  double length_penalty = 0.6;
  std::string metric = "auto";
  std::size_t limit = 0;
  std::size_t max_source_length = 0;  ///< 0: the model's
};

void run_eval(const EvalConfig& c) {
  const DecodingModels loaded = load_for_decoding(c.checkpoint, c.ensemble, c.rescore);
  const std::vector<DecodingGroup>& groups = loaded.groups;
  const SavedModel& saved = loaded.models[0];
  std::vector<Item> items;
  std::string name = c.split;
  if (!c.file.empty()) {
    TaskOptions tsv = with_max_source_length(saved.task, c.max_source_length);
    if (tsv.task == "g2p") {
      // A G2P model reads a TSV lexicon: word TAB phonemes separated by spaces.
      tsv.source_tokens = "chars";
      tsv.target_tokens = "words";
    }
    items = read_items(c.file, tsv);
    name = c.file;
  } else {
    // Only the split's file is read: the vocabularies come with the model.
    TaskOptions task = with_max_source_length(saved.task, c.max_source_length);
    if (c.split != "train") task.train_file.clear();
    if (c.split != "dev") task.dev_file.clear();
    if (c.split != "test") task.test_file.clear();
    TaskData data = load_task(task, saved.source_vocab, saved.target_vocab);
    items = c.split == "dev" ? data.dev : c.split == "test" ? data.test : data.train;
  }
  if (c.limit && items.size() > c.limit) items.resize(c.limit);
  if (items.empty()) throw Error(fmt::format("{}: nothing to evaluate", name));
  const std::string metric = c.metric == "auto" ? (saved.task.task == "g2p" ? "wer" : "bleu") : c.metric;
  const DecodeChoice choice{.beam = c.beam, .length_penalty = c.length_penalty,
                            .reversed_target = groups[0].reversed_target};
  Scores s;
  if (groups.size() == 1) {
    s = evaluate(groups[0].models, items, saved.source_vocab, saved.target_vocab, choice, metric);
  } else {
    std::vector<Tokens> sources;
    for (const Item& item : items) sources.push_back(item.source);
    s = score_predictions(items, rescore_all(groups, sources, saved.source_vocab, saved.target_vocab, choice), metric);
  }
  const std::size_t ensemble = groups[0].models.size();
  fmt::print("{} ({}{}{})\n", s.line(name, metric), c.beam > 1 ? fmt::format("beam {}", c.beam) : "greedy",
             ensemble > 1 ? fmt::format(", ensemble of {}", ensemble) : "",
             groups.size() > 1 ? fmt::format(", rescored with {} more", groups.size() - 1) : "");
}

}  // namespace

void add_eval_command(CLI::App& app) {
  auto config = std::make_shared<EvalConfig>();
  CLI::App* c = app.add_subcommand("eval", "score a saved model on dev, test or a TSV file");
  c->add_option("checkpoint", config->checkpoint, "a model saved by tapegrad train")->required();
  c->add_option("--ensemble", config->ensemble,
                "another model of the same vocabularies, decoding with the first (repeat for more)")
      ->allow_extra_args(false)  // one file per --ensemble: the sources follow
      ->check(CLI::ExistingFile);
  c->add_option("--rescore", config->rescore,
                "a model that also proposes its n-best and scores every candidate, e.g. one trained with "
                "--reverse-target (repeat for more)")
      ->allow_extra_args(false)
      ->check(CLI::ExistingFile);
  CLI::Option* split = c->add_option("--split", config->split, "train, dev or test of the model's task")
                           ->check(CLI::IsMember({"train", "dev", "test"}))
                           ->capture_default_str();
  c->add_option("--file", config->file, "a TSV file (source TAB target) instead of a split")
      ->check(CLI::ExistingFile)
      ->excludes(split);
  c->add_option("--beam", config->beam, "beam size (1: greedy)")->check(whole_in(1, max_beam))->capture_default_str();
  c->add_option("--length-penalty", config->length_penalty, "beam search's length penalty alpha")
      ->check(number_in(0, 10))
      ->capture_default_str();
  c->add_option("--metric", config->metric, "wer, bleu or auto (wer for g2p)")
      ->check(CLI::IsMember({"auto", "wer", "bleu"}))
      ->capture_default_str();
  c->add_option("--limit", config->limit, "score only the first N items (0: all)")
      ->check(whole_in(0, max_items))
      ->capture_default_str();
  c->add_option("--max-source-length", config->max_source_length, "most tokens of a source (0: the model's)")
      ->check(whole_in(0, max_sequence_tokens))
      ->capture_default_str();
  c->callback([config]() { run_eval(*config); });
}

}  // namespace tg::cli
