// `tapegrad distill TEACHER --out DIR`: sequence-level distillation's data (Kim and Rush 2016):
// the teacher's beam-search outputs on the training sources of its task become the targets a
// student trains on (DIR/train.tsv), beside the task's own dev and test references (DIR/dev.tsv,
// DIR/test.tsv), for `tapegrad train --task tsv` (docs/compression.md).
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "tapegrad/base/error.hpp"
#include "tapegrad/base/file.hpp"
#include "tapegrad/cli/commands.hpp"
#include "tapegrad/cli/options.hpp"
#include "tapegrad/train/evaluate.hpp"
#include "tapegrad/train/saved_model.hpp"

namespace tg::cli {
namespace {

namespace fs = std::filesystem;

struct DistillCommand {
  std::string teacher;
  std::string out;
  DecodingOptions decoding;
  bool overwrite = false;
};

void run_distill(const DistillCommand& c) {
  const fs::path out(c.out);
  for (const char* name : {"train.tsv", "dev.tsv", "test.tsv"}) {
    if (fs::exists(out / name) && !c.overwrite) {
      throw Error(fmt::format("distill: '{}' exists; pass --overwrite to replace it", (out / name).string()));
    }
  }
  const DecodingModels loaded = load_for_decoding(c.teacher, c.decoding.ensemble, c.decoding.rescore);
  const SavedModel& saved = loaded.models[0];
  const TaskOptions& task = saved.task;
  const bool chars = task.task == "g2p" || task.source_tokens == "chars";
  const std::string source_separator = chars ? "" : " ";
  const std::string target_separator = task.task == "g2p" || task.target_tokens == "words" ? " " : "";
  auto line = [&](const Tokens& source, const Tokens& target) {
    return fmt::format("{}\t{}\n", fmt::join(source, source_separator), fmt::join(target, target_separator));
  };
  fs::create_directories(out);
  // The references of dev and test, as the task has them.
  for (const char* split : {"dev", "test"}) {
    std::string text;
    for (const Item& item : load_split(task, split, saved.source_vocab, saved.target_vocab)) {
      for (const Tokens& reference : item.references) text += line(item.source, reference);
    }
    write_atomically(out / fmt::format("{}.tsv", split), text);
  }
  // The teacher's outputs on the training sources.
  const std::vector<Item> train = load_split(task, "train", saved.source_vocab, saved.target_vocab);
  std::vector<Tokens> sources;
  for (const Item& item : train) sources.push_back(item.source);
  const DecodeChoice choice{.beam = c.decoding.beam,
                            .length_penalty = c.decoding.length_penalty,
                            .reversed_target = loaded.groups[0].reversed_target};
  const std::vector<Prediction> predicted =
      decode_groups(loaded.groups, sources, saved.source_vocab, saved.target_vocab, choice);
  std::string text;
  std::size_t agree = 0;
  for (std::size_t i = 0; i < train.size(); ++i) {
    const Tokens& best = predicted[i].tokens[0];
    text += line(train[i].source, best);
    for (const Tokens& reference : train[i].references) agree += reference == best ? 1 : 0;
  }
  write_atomically(out / "train.tsv", text);
  fmt::print(
      "{}: the teacher's outputs for {} training sources ({} equal to one of their references), and {} and {} "
      "with the references of dev and test\n",
      (out / "train.tsv").string(), train.size(), agree, (out / "dev.tsv").string(), (out / "test.tsv").string());
}

}  // namespace

void add_distill_command(CLI::App& app) {
  auto command = std::make_shared<DistillCommand>();
  CLI::App* c = app.add_subcommand(
      "distill", "write a teacher's outputs on its training sources, for sequence-level distillation");
  c->add_option("teacher", command->teacher, "a model saved by tapegrad train")->required()->check(CLI::ExistingFile);
  c->add_option("--out", command->out, "the folder for train.tsv (the teacher's outputs), dev.tsv and test.tsv")
      ->required();
  add_decoding_options(*c, command->decoding);
  c->add_flag("--overwrite", command->overwrite, "replace the files in --out");
  c->callback([command]() { run_distill(*command); });
}

}  // namespace tg::cli
