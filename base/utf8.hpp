#pragma once
/// The one UTF-8 validator, checked against RFC 3629: no overlong forms, no
/// surrogates (U+D800..U+DFFF), nothing above U+10FFFF, no stray continuation
/// bytes, no truncated sequences. data/ splits text into characters with it,
/// io/ checks safetensors headers, autodiff/ escapes Graphviz labels.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace tg {

/// Where `text` stops being UTF-8: the offset of the first offending byte and
/// what is wrong there.
struct Utf8Problem {
  std::size_t offset = 0;  ///< byte offset from the start of the text
  std::string reason;      ///< "truncated sequence", "overlong encoding", ...
};

/// The length in bytes (1 to 4) of the valid character that starts at byte `at`
/// of `text`, or 0 when none starts there; then `reason`, when given, says why.
std::size_t utf8_char_length(std::string_view text, std::size_t at, std::string* reason = nullptr);

/// The first problem in `text`, if any.
std::optional<Utf8Problem> find_invalid_utf8(std::string_view text);

/// True when `text` is valid UTF-8.
bool is_valid_utf8(std::string_view text);

/// `text` without the UTF-8 byte order mark it may start with.
std::string_view without_bom(std::string_view text);

/// The number of characters (code points) of valid UTF-8 `text`, counted without copying them.
std::size_t utf8_length(std::string_view text);

}  // namespace tg
