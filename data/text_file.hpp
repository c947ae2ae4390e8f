#pragma once
/// Whole text files read into memory and cut into lines: what the corpus and
/// dictionary readers share.

#include <cstddef>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace tg {

/// The bytes of a file. Throws FileError (io/safetensors.hpp) naming the path
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

}  // namespace tg
