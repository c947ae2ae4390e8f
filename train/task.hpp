#pragma once
// The data of a training task: grapheme-to-phoneme
// on CMUdict (split by SHA-1 of the word, data/cmudict.hpp), or parallel TSV
// files for any sequence task. Every item is one source with all of its
// references (all pronunciations of a word; all targets that a TSV file gives
// for the same source): training sees one example per reference, scoring
// counts a prediction right when it equals any of them.
#include <optional>
#include <string>
#include <vector>

#include "tapegrad/data/batch.hpp"
#include "tapegrad/data/vocab.hpp"
#include "tapegrad/metrics/edit_distance.hpp"

namespace tg {

struct TaskOptions {
  std::string task = "g2p";                                                           ///< "g2p" or "tsv"
  std::string dictionary = "/usr/share/pocketsphinx/model/en-us/cmudict-en-us.dict";  ///< g2p
  std::string train_file, dev_file, test_file;                                        ///< tsv
  std::string source_tokens = "chars";                                                ///< tsv: "chars" or "words"
  std::string target_tokens = "words";                                                ///< tsv: "chars" or "words"
  std::size_t min_count = 1;  ///< rarer tokens become <unk> in the vocabularies
  /// The model writes each target right to left (trained on reversed targets); decoding puts
  /// its outputs back in order. A right-to-left model rescores a left-to-right one's n-best
  /// lists well: the two make different errors (eval --rescore).
  bool reverse_target = false;
  /// The longest source and reference (in tokens) of every item; a data line over them is
  /// skipped or refused (long_lines), a source to predict over max_source_length is refused.
  /// What keeps one huge line from taking all the memory; CMUdict's longest are 28.
  std::size_t max_source_length = 256;
  std::size_t max_target_length = 256;
  std::string long_lines = "skip";  ///< "skip" (with a warning naming each line) or "refuse" (an error)
};

struct Item {
  Tokens source;
  std::vector<Tokens> references;
};

struct TaskData {
  std::string name;  ///< "g2p" or "tsv"
  std::vector<Item> train, dev, test;
  Vocab source_vocab, target_vocab;
};

/// Reads the task's data. The vocabularies are built from the training part
/// unless given (a saved model's). Throws (FileError, DataError) naming the
/// file and line of bad input, and Error for an empty part that is needed.
TaskData load_task(const TaskOptions& options, const std::optional<Vocab>& source_vocab = {},
                   const std::optional<Vocab>& target_vocab = {});

/// Items of a TSV file (sources with all their targets), tokenized as `options` says.
std::vector<Item> read_items(const std::string& path, const TaskOptions& options);
/// Items of a TSV file to score a model of `task` on (eval --file): tokenized as the task's, and
/// for a G2P model a lexicon, word TAB phonemes separated by spaces.
std::vector<Item> read_items_for(const std::string& path, TaskOptions task);
/// The items of one split of a saved model's task ("train", "dev" or "test"), reading only that
/// split's file: the vocabularies are the model's.
std::vector<Item> load_split(TaskOptions task, const std::string& split, const Vocab& source_vocab,
                             const Vocab& target_vocab);
/// Tokens of one source string typed by a user (predict), as `options` tokenizes sources.
/// Throws Error naming `what` ("argument 2", "stdin line 3") when it has more tokens than
/// max_source_length, before building them.
Tokens tokenize_source(const std::string& text, const TaskOptions& options, const std::string& what = "a source");

/// `task` with max_source_length raised or lowered to `max_source_length`, unless that is 0:
/// eval's and predict's --max-source-length over the model's.
TaskOptions with_max_source_length(TaskOptions task, std::size_t max_source_length);

/// One training example per reference of every item; each target reversed when `reverse_target`.
std::vector<Example> training_examples(const std::vector<Item>& items, const Vocab& source_vocab,
                                       const Vocab& target_vocab, bool reverse_target = false);

}  // namespace tg
