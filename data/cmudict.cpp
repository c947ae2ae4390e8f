#include "tapegrad/data/cmudict.hpp"

#include <fmt/format.h>
#include <openssl/evp.h>

#include <algorithm>
#include <cctype>
#include <limits>
#include <unordered_map>

#include "tapegrad/data/text_file.hpp"
#include "tapegrad/data/utf8.hpp"

namespace tg {

namespace {

bool is_blank(char c) { return c == ' ' || c == '\t'; }

// The number of fields before any "# comment", and the first `keep` of them in `fields`:
// a line of a million phonemes is counted, not stored.
std::size_t fields_of(std::string_view text, std::size_t keep, std::vector<std::string_view>& fields) {
  fields.clear();
  std::size_t count = 0, i = 0;
  while (i < text.size()) {
    while (i < text.size() && is_blank(text[i])) ++i;
    const std::size_t begin = i;
    while (i < text.size() && !is_blank(text[i])) ++i;
    if (i == begin || text[begin] == '#') break;
    if (count++ < keep) fields.push_back(text.substr(begin, i - begin));
  }
  return count;
}

}  // namespace

std::vector<DictEntry> parse_cmudict(std::string_view text, const std::string& source, const LengthLimits& limits,
                                     std::vector<LongLine>* long_lines) {
  std::vector<DictEntry> entries;
  std::unordered_map<std::string, std::size_t> index;
  std::vector<std::string_view> fields;
  const std::size_t keep = limits.target ? limits.target + 1 : std::numeric_limits<std::size_t>::max();
  for (const TextLine& line : split_lines(text)) {
    auto fail = [&](const std::string& what) {
      throw DataError(fmt::format("{}:{}: {} (byte offset {})", source, line.number, what, line.offset));
    };
    if (auto problem = find_invalid_utf8(line.text)) {
      throw DataError(fmt::format("{}:{}: invalid UTF-8 at byte offset {} (byte {} of the line): {}", source,
                                  line.number, line.offset + problem->offset, problem->offset, problem->reason));
    }
    const std::size_t count = fields_of(line.text, keep, fields);
    if (count == 0) continue;
    std::string_view word = fields[0];
    if (const std::size_t open = word.find('('); open != std::string_view::npos || word.find(')') != word.npos) {
      const std::string_view digits =
          open == std::string_view::npos ? std::string_view{} : word.substr(open + 1, word.size() - open - 2);
      const bool well_formed = open != std::string_view::npos && open > 0 && word.back() == ')' && !digits.empty() &&
                               std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; });
      if (!well_formed) fail(fmt::format("malformed variant marker in '{}' (expected word(N))", word));
      word = word.substr(0, open);
    }
    if (count < 2) fail(fmt::format("'{}' has no phonemes", fields[0]));
    if (auto too_long = limits.check(line.number, utf8_length(word), count - 1)) {
      if (long_lines) long_lines->push_back(*too_long);
      continue;
    }
    std::vector<std::string> phonemes(fields.begin() + 1, fields.end());
    auto [it, added] = index.emplace(std::string(word), entries.size());
    if (added) entries.push_back({std::string(word), utf8_chars(word), {}, line.number});
    auto& prons = entries[it->second].pronunciations;
    if (std::find(prons.begin(), prons.end(), phonemes) == prons.end()) prons.push_back(std::move(phonemes));
  }
  return entries;
}

std::vector<DictEntry> read_cmudict(const std::filesystem::path& path, const LengthLimits& limits,
                                    std::vector<LongLine>* long_lines) {
  const std::string text = read_text_file(path);
  return parse_cmudict(text, path.string(), limits, long_lines);
}

const char* split_name(Split split) {
  switch (split) {
    case Split::train:
      return "train";
    case Split::dev:
      return "dev";
    case Split::test:
      return "test";
  }
  return "?";
}

unsigned split_bucket(std::string_view word) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (EVP_Digest(word.data(), word.size(), digest, &length, EVP_sha1(), nullptr) != 1 || length != 20) {
    throw Error(fmt::format("split_bucket: OpenSSL's SHA-1 failed on '{}'", word));
  }
  // The digest as a big-endian number, reduced modulo 100 one byte at a time.
  unsigned r = 0;
  for (unsigned i = 0; i < length; ++i) r = (r * 256 + digest[i]) % 100;
  return r;
}

Split split_of(std::string_view word) {
  const unsigned bucket = split_bucket(word);
  return bucket < 90 ? Split::train : bucket < 95 ? Split::dev : Split::test;
}

}  // namespace tg
