// `tapegrad predict CHECKPOINT [SOURCE...]`: beam search on the sources given
// as arguments, or one per line on stdin; prints the n best outputs with their
// scores.
#include <iostream>
#include <iterator>
#include <memory>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "tapegrad/cli/commands.hpp"
#include "tapegrad/cli/options.hpp"
#include "tapegrad/data/text_file.hpp"
#include "tapegrad/data/utf8.hpp"
#include "tapegrad/train/evaluate.hpp"
#include "tapegrad/train/saved_model.hpp"

namespace tg::cli {
namespace {

struct PredictConfig {
  std::string checkpoint;
  std::vector<std::string> sources;
  DecodingOptions decoding;
};

void run_predict(const PredictConfig& c) {
  const DecodingOptions& d = c.decoding;
  const DecodingModels loaded = load_for_decoding(c.checkpoint, d.ensemble, d.rescore);
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
    Tokens t = tokenize_source(sources[i], with_max_source_length(saved.task, d.max_source_length), origins[i]);
    if (t.empty()) throw DataError(fmt::format("{}: '{}' has no tokens", origins[i], sources[i]));
    tokens.push_back(std::move(t));
  }
  const std::size_t beam = std::max(d.beam, d.n_best);
  const DecodeChoice choice{.beam = beam,
                            .length_penalty = d.length_penalty,
                            .n_best = d.n_best,
                            .reversed_target = groups[0].reversed_target};
  const std::vector<Prediction> p = decode_groups(groups, tokens, saved.source_vocab, saved.target_vocab, choice);
  const std::string separator = saved.task.task == "g2p" || saved.task.target_tokens == "words" ? " " : "";
  for (std::size_t i = 0; i < sources.size(); ++i) {
    for (std::size_t k = 0; k < p[i].tokens.size(); ++k) {
      if (d.n_best == 1) {
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
  add_decoding_options(*c, config->decoding, /*with_n_best=*/true);
  c->callback([config]() { run_predict(*config); });
}

}  // namespace tg::cli
