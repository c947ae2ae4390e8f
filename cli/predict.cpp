// `tapegrad predict CHECKPOINT [SOURCE...]`: beam search on the sources given
// as arguments, or one per line on stdin; prints the n best outputs with their
// scores.
#include <iostream>
#include <iterator>
#include <memory>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "bounds.hpp"
#include "commands.hpp"
#include "data/text_file.hpp"
#include "data/utf8.hpp"
#include "train/evaluate.hpp"
#include "train/saved_model.hpp"

namespace tg::cli {
namespace {

struct PredictConfig {
  std::string checkpoint;
  std::vector<std::string> ensemble;
  std::vector<std::string> rescore;
  std::vector<std::string> sources;
  std::size_t beam = 5;
  std::size_t n_best = 1;
  double length_penalty = 0.6;
  std::size_t max_source_length = 0;  ///< 0: the model's
};

void run_predict(const PredictConfig& c) {
  const DecodingModels loaded = load_for_decoding(c.checkpoint, c.ensemble, c.rescore);
  const std::vector<DecodingGroup>& groups = loaded.groups;
  const SavedModel& saved = loaded.models[0];
  // Each source with where it came from, for errors: "argument 2", "stdin line 4".
  std::vector<std::string> sources, origins;
  if (c.sources.empty()) {
    const std::string input{std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>()};
    for (const TextLine& line : split_lines(without_bom(input))) {
      if (line.text.empty()) continue;
      sources.emplace_back(line.text);
      origins.push_back(fmt::format("stdin line {}", line.number));
    }
  } else {
    sources = c.sources;
    for (std::size_t i = 0; i < sources.size(); ++i) origins.push_back(fmt::format("argument {}", i + 1));
  }
  if (sources.empty()) throw Error("nothing to predict: give sources as arguments or one per line on stdin");
  std::vector<Tokens> tokens;
  for (std::size_t i = 0; i < sources.size(); ++i) {
    if (auto problem = find_invalid_utf8(sources[i])) {
      throw DataError(fmt::format("{}: invalid UTF-8 at byte {}: {}", origins[i], problem->offset, problem->reason));
    }
    Tokens t = tokenize_source(sources[i], with_max_source_length(saved.task, c.max_source_length), origins[i]);
    if (t.empty()) throw DataError(fmt::format("{}: '{}' has no tokens", origins[i], sources[i]));
    tokens.push_back(std::move(t));
  }
  const std::size_t beam = std::max(c.beam, c.n_best);
  const DecodeChoice choice{.beam = beam, .length_penalty = c.length_penalty, .n_best = c.n_best,
                            .reversed_target = groups[0].reversed_target};
  std::vector<Prediction> p = groups.size() == 1
                                  ? decode_all(groups[0].models, tokens, saved.source_vocab, saved.target_vocab, choice)
                                  : rescore_all(groups, tokens, saved.source_vocab, saved.target_vocab, choice);
  const std::string separator = saved.task.task == "g2p" || saved.task.target_tokens == "words" ? " " : "";
  for (std::size_t i = 0; i < sources.size(); ++i) {
    for (std::size_t k = 0; k < p[i].tokens.size(); ++k) {
      if (c.n_best == 1) {
        fmt::print("{}\t{}\n", sources[i], fmt::join(p[i].tokens[k], separator));
      } else {
        fmt::print("{}\t{}\t{}\t{:.4f}\n", sources[i], k + 1, fmt::join(p[i].tokens[k], separator), p[i].scores[k]);
      }
    }
  }
}

}  // namespace

void add_predict_command(CLI::App& app) {
  auto config = std::make_shared<PredictConfig>();
  CLI::App* c = app.add_subcommand("predict", "beam search on words or sentences (arguments, or lines on stdin)");
  c->add_option("checkpoint", config->checkpoint, "a model saved by tapegrad train")->required();
  c->add_option("sources", config->sources, "words or sentences (none: read stdin)");
  c->add_option("--ensemble", config->ensemble,
                "another model of the same vocabularies, decoding with the first (repeat for more)")
      ->allow_extra_args(false)  // one file per --ensemble: the sources follow
      ->check(CLI::ExistingFile);
  c->add_option("--rescore", config->rescore,
                "a model that also proposes its n-best and scores every candidate, e.g. one trained with "
                "--reverse-target (repeat for more)")
      ->allow_extra_args(false)
      ->check(CLI::ExistingFile);
  c->add_option("--beam", config->beam, "beam size (1: greedy)")->check(whole_in(1, max_beam))->capture_default_str();
  c->add_option("--n-best", config->n_best, "outputs per source, with their scores")
      ->check(whole_in(1, max_beam))
      ->capture_default_str();
  c->add_option("--length-penalty", config->length_penalty, "beam search's length penalty alpha")
      ->check(number_in(0, 10))
      ->capture_default_str();
  c->add_option("--max-source-length", config->max_source_length, "most tokens of a source (0: the model's)")
      ->check(whole_in(0, max_sequence_tokens))
      ->capture_default_str();
  c->callback([config]() { run_predict(*config); });
}

}  // namespace tg::cli
