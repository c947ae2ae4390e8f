#pragma once
/// UTF-8 text split into characters (Unicode code points), checked against
/// RFC 3629: no overlong forms, no surrogates (U+D800..U+DFFF), nothing above
/// U+10FFFF, no stray continuation bytes, no truncated sequences.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "error.hpp"

namespace tg {

/// Where `text` stops being UTF-8: the offset of the first offending byte and
/// what is wrong there. Empty when the whole text is valid.
struct Utf8Problem {
  std::size_t offset = 0;  ///< byte offset from the start of the text
  std::string reason;      ///< "truncated sequence", "overlong encoding", ...
};
/// The first problem in `text`, if any.
std::optional<Utf8Problem> find_invalid_utf8(std::string_view text);

/// `text` without the UTF-8 byte order mark it may start with.
std::string_view without_bom(std::string_view text);

/// True when `text` is valid UTF-8.
bool is_valid_utf8(std::string_view text);

/// The number of characters (code points) of valid UTF-8 `text`, counted without copying them.
std::size_t utf8_length(std::string_view text);

/// The characters (code points) of `text`, each as its UTF-8 bytes, in order.
/// Nothing is dropped or normalised: spaces, tabs and control characters are
/// characters too. Throws Utf8Error naming the byte offset when `text` is not UTF-8.
std::vector<std::string> utf8_chars(std::string_view text);

}  // namespace tg
