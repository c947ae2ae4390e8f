#pragma once
/// The CMU Pronouncing Dictionary as Debian's pocketsphinx-en-us installs it
/// (cmudict_default_path): one pronunciation per line,
///   word PH1 PH2 ...
/// fields separated by spaces or tabs. A variant `word(2) ...` is another
/// pronunciation of `word`. Blank lines, lines whose first non-blank byte is
/// '#', and a trailing "# comment" after the phonemes are ignored (the
/// Debian file has none; upstream cmudict has them).
///
/// The split of the words into train, dev and test (split_of): the SHA-1 of
/// the word's UTF-8 bytes, read as a big-endian 160-bit integer, modulo 100:
/// below 90 train, 90 to 94 dev, 95 and above test. It depends on the word
/// alone, so it is the same on every machine and does not change when words
/// are added. On the Debian file: 113,342 train, 6,205 dev, 6,398 test words.

#include <cstddef>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "tapegrad/data/error.hpp"
#include "tapegrad/data/text_file.hpp"

namespace tg {

/// Where Debian's pocketsphinx-en-us installs the dictionary.
inline constexpr const char* cmudict_default_path = "/usr/share/pocketsphinx/model/en-us/cmudict-en-us.dict";

/// One word and all its pronunciations.
struct DictEntry {
  std::string word;                                      ///< without any "(2)" marker
  std::vector<std::string> graphemes;                    ///< the word's characters (UTF-8 code points)
  std::vector<std::vector<std::string>> pronunciations;  ///< in file order; an exact repeat is kept once
  std::size_t line = 0;                                  ///< 1-based line of the word's first appearance
};

/// The entries of a dictionary file, in order of each word's first
/// appearance, variants merged into their word. Throws FileError naming the
/// path when it cannot be read, DataError naming the file and line for a
/// line with a word but no phonemes, a malformed variant marker ("word(",
/// "word(x)", "(2)"), or bytes that are not UTF-8 (also the byte offset).
/// Lines over `limits` are left out, and listed in `*long_lines` when given.
std::vector<DictEntry> read_cmudict(const std::filesystem::path& path = cmudict_default_path,
                                    const LengthLimits& limits = {}, std::vector<LongLine>* long_lines = nullptr);
/// The same from text already in memory; `source` names it in errors.
std::vector<DictEntry> parse_cmudict(std::string_view text, const std::string& source = "<memory>",
                                     const LengthLimits& limits = {}, std::vector<LongLine>* long_lines = nullptr);

/// The three parts of the word split.
enum class Split { train, dev, test };
/// "train", "dev" or "test".
const char* split_name(Split split);
/// SHA-1 of `word`'s bytes as a big-endian integer, modulo 100 (OpenSSL's libcrypto).
unsigned split_bucket(std::string_view word);
/// The part `word` belongs to (see the header comment).
Split split_of(std::string_view word);

}  // namespace tg
