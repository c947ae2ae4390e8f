#pragma once
/// Whole text files read into memory and cut into lines, and the length limits
/// of their lines: what the corpus and dictionary readers share.

#include <cstddef>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tg {

/// The bytes of a file. Throws FileError (base/error.hpp) naming the path
/// when it is missing, is not a regular file (check_regular_file), or cannot be read.
std::string read_text_file(const std::filesystem::path& path);

/// One line of a text, without its line ending.
struct TextLine {
  std::string_view text;   ///< the line's bytes, without "\n" or "\r\n"
  std::size_t number = 0;  ///< 1-based line number
  std::size_t offset = 0;  ///< byte offset of the line's first byte in the text
};

/// The lines of `text`. Lines end at "\n"; a "\r" just before it, or at the
/// very end of the text, is part of the line ending (CRLF files). A last line
/// without a final newline is a line; a final newline does not start an empty
/// one. The views point into `text`.
std::vector<TextLine> split_lines(std::string_view text);

/// A line that LengthLimits left out.
struct LongLine {
  std::size_t line = 0;    ///< 1-based line number
  bool source = true;      ///< the source side was over its limit (else the target side)
  std::size_t tokens = 0;  ///< that side's tokens
  std::size_t limit = 0;   ///< its limit
};

/// The most tokens a reader keeps on each side of a line; 0 is no limit. A line
/// over a limit is left out after its tokens are counted and before they are
/// built, so one huge line costs no more memory than its bytes.
struct LengthLimits {
  std::size_t source = 0;  ///< a TSV source's tokens; a dictionary word's characters
  std::size_t target = 0;  ///< a TSV target's tokens; a pronunciation's phonemes
  /// Line `line`, with sides of `source_tokens` and `target_tokens`, when it is over a limit
  /// (the source's first).
  std::optional<LongLine> check(std::size_t line, std::size_t source_tokens, std::size_t target_tokens) const;
};

}  // namespace tg
