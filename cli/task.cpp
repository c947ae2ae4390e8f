#include "task.hpp"

#include <algorithm>
#include <filesystem>
#include <map>

#include <fmt/format.h>

#include "data/cmudict.hpp"
#include "data/tsv.hpp"

namespace tg::cli {

namespace {

// Paths are saved with a model (its task), so they are kept absolute: resumed or
// evaluated from another folder, the model still finds its files.
const CLI::Validator kAbsolutePath(
    [](std::string& path) {
      if (!path.empty()) path = std::filesystem::absolute(path).lexically_normal().string();
      return std::string();
    },
    "PATH");

}  // namespace

void add_task_options(CLI::App& c, TaskOptions& o, bool with_train_files) {
  c.add_option("--task", o.task, "g2p (CMUdict) or tsv (your own parallel files)")
      ->check(CLI::IsMember({"g2p", "tsv"}))
      ->capture_default_str()
      ->group("Data");
  c.add_option("--dictionary", o.dictionary, "g2p: the CMUdict file")->transform(kAbsolutePath)->capture_default_str()->group("Data");
  if (with_train_files) {
    c.add_option("--train", o.train_file, "tsv: training pairs (source TAB target per line)")->transform(kAbsolutePath)->group("Data");
    c.add_flag("--reverse-target", o.reverse_target,
               "write targets right to left (a model to rescore a left-to-right one's n-best: eval --rescore)")
        ->group("Data");
  }
  c.add_option("--dev", o.dev_file, "tsv: development pairs")->transform(kAbsolutePath)->group("Data");
  c.add_option("--test", o.test_file, "tsv: test pairs")->transform(kAbsolutePath)->group("Data");
  c.add_option("--source-tokens", o.source_tokens, "tsv: chars or words")
      ->check(CLI::IsMember({"chars", "words"}))
      ->capture_default_str()
      ->group("Data");
  c.add_option("--target-tokens", o.target_tokens, "tsv: chars or words")
      ->check(CLI::IsMember({"chars", "words"}))
      ->capture_default_str()
      ->group("Data");
}

namespace {

Tokenization tokenization(const std::string& name) {
  return name == "words" ? Tokenization::whitespace : Tokenization::characters;
}

std::string joined(const std::vector<std::string>& chars) {
  std::string out;
  for (const std::string& c : chars) out += c;
  return out;
}

std::vector<Tokens> sequences(const std::vector<Item>& items, bool sources) {
  std::vector<Tokens> out;
  for (const Item& item : items) {
    if (sources) {
      out.push_back(item.source);
    } else {
      for (const Tokens& r : item.references) out.push_back(r);
    }
  }
  return out;
}

}  // namespace

Tokens tokenize_source(const std::string& text, const TaskOptions& options) {
  if (options.task == "g2p") return tokenize(text, Tokenization::characters);
  return tokenize(text, tokenization(options.source_tokens));
}

std::vector<Item> read_items(const std::string& path, const TaskOptions& options) {
  // Read as characters (nothing dropped), then cut each side as asked.
  std::vector<TextPair> pairs = read_tsv(path, Tokenization::characters);
  std::vector<Item> items;
  std::map<Tokens, std::size_t> index;
  for (const TextPair& p : pairs) {
    Tokens source = tokenize(joined(p.source), tokenization(options.source_tokens));
    Tokens target = tokenize(joined(p.target), tokenization(options.target_tokens));
    if (source.empty() || target.empty()) {
      throw DataError(fmt::format("{}:{}: a side has no {} tokens", path, p.line,
                                  source.empty() ? options.source_tokens : options.target_tokens));
    }
    auto [it, inserted] = index.emplace(source, items.size());
    if (inserted) items.push_back({std::move(source), {}});
    Item& item = items[it->second];
    bool known = false;
    for (const Tokens& r : item.references) known = known || r == target;
    if (!known) item.references.push_back(std::move(target));
  }
  return items;
}

TaskData load_task(const TaskOptions& o, const std::optional<Vocab>& source_vocab,
                   const std::optional<Vocab>& target_vocab) {
  TaskData data;
  data.name = o.task;
  if (o.task == "g2p") {
    for (DictEntry& e : read_cmudict(o.dictionary)) {
      Item item{std::move(e.graphemes), std::move(e.pronunciations)};
      switch (split_of(e.word)) {
        case Split::train: data.train.push_back(std::move(item)); break;
        case Split::dev: data.dev.push_back(std::move(item)); break;
        case Split::test: data.test.push_back(std::move(item)); break;
      }
    }
  } else if (o.task == "tsv") {
    if (!o.train_file.empty()) data.train = read_items(o.train_file, o);
    if (!o.dev_file.empty()) data.dev = read_items(o.dev_file, o);
    if (!o.test_file.empty()) data.test = read_items(o.test_file, o);
  } else {
    throw Error(fmt::format("unknown task '{}' (g2p or tsv)", o.task));
  }
  if (source_vocab && target_vocab) {
    data.source_vocab = *source_vocab;
    data.target_vocab = *target_vocab;
  } else {
    if (data.train.empty()) {
      throw Error(o.task == "tsv" ? std::string("tsv: --train names no file, so there is nothing to train on")
                                  : fmt::format("{}: no training words", o.dictionary));
    }
    data.source_vocab = Vocab::build(sequences(data.train, true), o.min_count);
    data.target_vocab = Vocab::build(sequences(data.train, false), o.min_count);
  }
  return data;
}

std::vector<Example> training_examples(const std::vector<Item>& items, const Vocab& source_vocab,
                                       const Vocab& target_vocab, bool reverse_target) {
  std::vector<Example> out;
  for (const Item& item : items) {
    std::vector<std::int64_t> source = source_vocab.encode(item.source);
    for (const Tokens& r : item.references) {
      std::vector<std::int64_t> target = target_vocab.encode(r);
      if (reverse_target) std::reverse(target.begin(), target.end());
      out.push_back({source, std::move(target)});
    }
  }
  return out;
}

}  // namespace tg::cli
