#include "tapegrad/data/tsv.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "tapegrad/data/text_file.hpp"
#include "tapegrad/data/utf8.hpp"

namespace tg {

namespace {

bool is_ascii_space(char c) { return c == ' ' || c == '\t' || c == '\v' || c == '\f' || c == '\r' || c == '\n'; }

}  // namespace

std::vector<std::string> tokenize(std::string_view text, Tokenization tokenization) {
  if (tokenization == Tokenization::characters) return utf8_chars(text);
  if (auto problem = find_invalid_utf8(text)) {
    throw Utf8Error(fmt::format("invalid UTF-8 at byte offset {}: {}", problem->offset, problem->reason),
                    problem->offset, problem->reason);
  }
  std::vector<std::string> tokens;
  std::size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && is_ascii_space(text[i])) ++i;
    const std::size_t begin = i;
    while (i < text.size() && !is_ascii_space(text[i])) ++i;
    if (i > begin) tokens.emplace_back(text.substr(begin, i - begin));
  }
  return tokens;
}

std::size_t count_tokens(std::string_view text, Tokenization tokenization) {
  if (tokenization == Tokenization::characters) return utf8_length(text);
  std::size_t tokens = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    tokens += !is_ascii_space(text[i]) && (i == 0 || is_ascii_space(text[i - 1]));
  }
  return tokens;
}

std::vector<TextPair> parse_tsv(std::string_view text, Tokenization tokenization, const std::string& source) {
  return parse_tsv(text, TsvFormat{tokenization, tokenization, {}}, source);
}

std::vector<TextPair> parse_tsv(std::string_view text, const TsvFormat& format, const std::string& source,
                                std::vector<LongLine>* long_lines) {
  const std::size_t skipped = text.size() - without_bom(text).size();
  std::vector<TextLine> lines = split_lines(text.substr(skipped));
  if (lines.empty()) throw DataError(fmt::format("{}: empty corpus, no lines", source));
  std::vector<TextPair> pairs;
  pairs.reserve(lines.size());
  for (const TextLine& line : lines) {
    const std::size_t line_offset = line.offset + skipped;
    if (auto problem = find_invalid_utf8(line.text)) {
      throw DataError(fmt::format("{}:{}: invalid UTF-8 at byte offset {} (byte {} of the line): {}", source,
                                  line.number, line_offset + problem->offset, problem->offset, problem->reason));
    }
    const auto tabs = std::count(line.text.begin(), line.text.end(), '\t');
    if (tabs != 1) {
      throw DataError(fmt::format("{}:{}: expected 'source<TAB>target', found {} TABs (byte offset {})", source,
                                  line.number, tabs, line_offset));
    }
    const std::size_t tab = line.text.find('\t');
    const std::string_view left = line.text.substr(0, tab), right = line.text.substr(tab + 1);
    if (auto too_long =
            format.limits.check(line.number, count_tokens(left, format.source), count_tokens(right, format.target))) {
      if (long_lines) long_lines->push_back(*too_long);
      continue;
    }
    TextPair pair;
    pair.source = tokenize(left, format.source);
    pair.target = tokenize(right, format.target);
    pair.line = line.number;
    if (pair.source.empty() || pair.target.empty()) {
      throw DataError(fmt::format("{}:{}: the {} side is empty (byte offset {})", source, line.number,
                                  pair.source.empty() ? "source" : "target", line_offset));
    }
    pairs.push_back(std::move(pair));
  }
  return pairs;
}

std::vector<TextPair> read_tsv(const std::filesystem::path& path, Tokenization tokenization) {
  return read_tsv(path, TsvFormat{tokenization, tokenization, {}});
}

std::vector<TextPair> read_tsv(const std::filesystem::path& path, const TsvFormat& format,
                               std::vector<LongLine>* long_lines) {
  const std::string text = read_text_file(path);
  return parse_tsv(text, format, path.string(), long_lines);
}

}  // namespace tg
