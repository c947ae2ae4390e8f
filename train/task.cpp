#include "tapegrad/train/task.hpp"

#include <algorithm>
#include <cstdio>
#include <map>

#include <fmt/format.h>

#include "tapegrad/data/cmudict.hpp"
#include "tapegrad/data/tsv.hpp"

namespace tg {

namespace {

Tokenization tokenization(const std::string& name) {
  return name == "words" ? Tokenization::whitespace : Tokenization::characters;
}

/// The first `chars` characters of `text`, and "..." when there are more: a long input named in a message.
std::string preview(std::string_view text, std::size_t chars) {
  std::size_t seen = 0, end = 0;
  for (; end < text.size(); ++end) {
    const bool lead = (static_cast<unsigned char>(text[end]) & 0xC0) != 0x80;
    if (lead && seen++ == chars) break;
  }
  return std::string(text.substr(0, end)) + (end < text.size() ? "..." : "");
}

LengthLimits limits_of(const TaskOptions& o) { return {o.max_source_length, o.max_target_length}; }

/// Lines left out for their length: the first refused, or the first few named in warnings.
void report_long_lines(const std::string& file, const std::vector<LongLine>& lines, const TaskOptions& o) {
  if (lines.empty()) return;
  auto describe = [&](const LongLine& l) {
    const char* side = l.source ? "source" : "target";
    return fmt::format("{}:{}: the {} is {} tokens, over --max-{}-length {}", file, l.line, side, l.tokens, side,
                       l.limit);
  };
  if (o.long_lines == "refuse") throw DataError(describe(lines[0]) + " (--long-lines skip leaves such lines out)");
  constexpr std::size_t shown = 5;
  for (std::size_t i = 0; i < std::min(shown, lines.size()); ++i) {
    fmt::print(stderr, "tapegrad: warning: {}: skipped\n", describe(lines[i]));
  }
  if (lines.size() > shown) {
    fmt::print(stderr, "tapegrad: warning: {}: {} lines over the length limits skipped in all\n", file, lines.size());
  }
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

Tokens tokenize_source(const std::string& text, const TaskOptions& options, const std::string& what) {
  const Tokenization t = options.task == "g2p" ? Tokenization::characters : tokenization(options.source_tokens);
  if (const std::size_t n = count_tokens(text, t); n > options.max_source_length) {
    throw Error(fmt::format("{} ('{}') is {} tokens, over --max-source-length {} (the model's unless given)", what,
                            preview(text, 20), n, options.max_source_length));
  }
  return tokenize(text, t);
}

TaskOptions with_max_source_length(TaskOptions task, std::size_t max_source_length) {
  if (max_source_length != 0) task.max_source_length = max_source_length;
  return task;
}

std::vector<Item> read_items(const std::string& path, const TaskOptions& options) {
  std::vector<LongLine> long_lines;
  const TsvFormat format{tokenization(options.source_tokens), tokenization(options.target_tokens), limits_of(options)};
  std::vector<TextPair> pairs = read_tsv(path, format, &long_lines);
  report_long_lines(path, long_lines, options);
  std::vector<Item> items;
  std::map<Tokens, std::size_t> index;
  for (TextPair& p : pairs) {
    Tokens source = std::move(p.source), target = std::move(p.target);
    auto [it, inserted] = index.emplace(source, items.size());
    if (inserted) items.push_back({std::move(source), {}});
    Item& item = items[it->second];
    bool known = false;
    for (const Tokens& r : item.references) known = known || r == target;
    if (!known) item.references.push_back(std::move(target));
  }
  return items;
}

std::vector<Item> read_items_for(const std::string& path, TaskOptions task) {
  if (task.task == "g2p") {
    task.source_tokens = "chars";
    task.target_tokens = "words";
  }
  return read_items(path, task);
}

std::vector<Item> load_split(TaskOptions task, const std::string& split, const Vocab& source_vocab,
                             const Vocab& target_vocab) {
  if (split != "train") task.train_file.clear();
  if (split != "dev") task.dev_file.clear();
  if (split != "test") task.test_file.clear();
  TaskData data = load_task(task, source_vocab, target_vocab);
  return split == "dev" ? data.dev : split == "test" ? data.test : data.train;
}

TaskData load_task(const TaskOptions& o, const std::optional<Vocab>& source_vocab,
                   const std::optional<Vocab>& target_vocab) {
  TaskData data;
  data.name = o.task;
  if (o.task == "g2p") {
    std::vector<LongLine> long_lines;
    std::vector<DictEntry> entries = read_cmudict(o.dictionary, limits_of(o), &long_lines);
    report_long_lines(o.dictionary, long_lines, o);
    for (DictEntry& e : entries) {
      Item item{std::move(e.graphemes), std::move(e.pronunciations)};
      switch (split_of(e.word)) {
        case Split::train:
          data.train.push_back(std::move(item));
          break;
        case Split::dev:
          data.dev.push_back(std::move(item));
          break;
        case Split::test:
          data.test.push_back(std::move(item));
          break;
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

}  // namespace tg
