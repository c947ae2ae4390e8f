#pragma once
/// Parallel corpora as tab-separated text: one pair per line,
///   source TAB target
/// in UTF-8, lines ending in "\n" or "\r\n" (the last may have no newline).
/// A UTF-8 byte order mark at the very start of the file is skipped.
///
/// Tokenization of each side:
///   characters  every code point is a token, spaces included: nothing is
///               dropped, trimmed or normalised ("a b" -> "a", " ", "b").
///   whitespace  tokens are the runs of bytes between ASCII whitespace
///               (space, \t, \v, \f, \r); leading, trailing and repeated
///               whitespace give no empty tokens.
///
/// Refused, with a DataError naming the file and line: a line (blank lines
/// included) without exactly one TAB, a side with no tokens, bytes that are
/// not UTF-8 (also the byte offset, in the file and in the line). A file
/// with no lines at all is a DataError naming the file; a missing or
/// unreadable file is a FileError naming the path.
///
/// With LengthLimits (data/text_file.hpp), a line whose side has more tokens
/// than its limit is left out, counted before any token is built, and listed.

#include <cstddef>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "tapegrad/data/error.hpp"
#include "tapegrad/data/text_file.hpp"

namespace tg {

/// How a side of a pair is cut into tokens (see the header comment).
enum class Tokenization { characters, whitespace };

/// One line of a parallel corpus, tokenized.
struct TextPair {
  std::vector<std::string> source;  ///< the tokens left of the TAB
  std::vector<std::string> target;  ///< the tokens right of the TAB
  std::size_t line = 0;             ///< 1-based line number in the file
};

/// The tokens of `text` (valid UTF-8) under `tokenization`. Throws Utf8Error
/// when `text` is not UTF-8.
std::vector<std::string> tokenize(std::string_view text, Tokenization tokenization);

/// The number of tokens tokenize(text, tokenization) gives, counted without building them.
/// `text` must be valid UTF-8.
std::size_t count_tokens(std::string_view text, Tokenization tokenization);

/// How a corpus's two sides are cut, and the longest sides kept.
struct TsvFormat {
  Tokenization source = Tokenization::characters;  ///< of the side left of the TAB
  Tokenization target = Tokenization::characters;  ///< of the side right of the TAB
  LengthLimits limits;                             ///< longer lines are left out
};

/// Every pair of the file, in file order.
std::vector<TextPair> read_tsv(const std::filesystem::path& path, Tokenization tokenization);
/// The same, cut as `format` says; the lines it leaves out for their length go to
/// `*long_lines` when given.
std::vector<TextPair> read_tsv(const std::filesystem::path& path, const TsvFormat& format,
                               std::vector<LongLine>* long_lines = nullptr);

/// The same from text already in memory; `source` names it in errors.
std::vector<TextPair> parse_tsv(std::string_view text, Tokenization tokenization,
                                const std::string& source = "<memory>");
std::vector<TextPair> parse_tsv(std::string_view text, const TsvFormat& format, const std::string& source,
                                std::vector<LongLine>* long_lines = nullptr);

}  // namespace tg
