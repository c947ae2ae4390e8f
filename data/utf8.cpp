#include "utf8.hpp"

#include <fmt/format.h>

namespace tg {

std::string_view without_bom(std::string_view text) {
  constexpr std::string_view bom = "\xEF\xBB\xBF";
  return text.starts_with(bom) ? text.substr(bom.size()) : text;
}

std::optional<Utf8Problem> find_invalid_utf8(std::string_view text) {
  const std::size_t n = text.size();
  std::size_t i = 0;
  while (i < n) {
    const auto b0 = static_cast<unsigned char>(text[i]);
    if (b0 < 0x80) {
      ++i;
      continue;
    }
    // Table 3-7 of the Unicode standard: the lead byte fixes the length and the
    // allowed range of the second byte (which rules out overlongs, surrogates
    // and code points above U+10FFFF).
    std::size_t length = 0;
    unsigned char low = 0x80, high = 0xBF;
    if (b0 >= 0xC2 && b0 <= 0xDF) {
      length = 2;
    } else if (b0 >= 0xE0 && b0 <= 0xEF) {
      length = 3;
      if (b0 == 0xE0) low = 0xA0;
      if (b0 == 0xED) high = 0x9F;
    } else if (b0 >= 0xF0 && b0 <= 0xF4) {
      length = 4;
      if (b0 == 0xF0) low = 0x90;
      if (b0 == 0xF4) high = 0x8F;
    } else if (b0 >= 0x80 && b0 <= 0xBF) {
      return Utf8Problem{i, fmt::format("continuation byte 0x{:02X} without a lead byte", b0)};
    } else if (b0 == 0xC0 || b0 == 0xC1) {
      return Utf8Problem{i, fmt::format("overlong encoding (lead byte 0x{:02X})", b0)};
    } else {
      return Utf8Problem{i, fmt::format("byte 0x{:02X} never appears in UTF-8", b0)};
    }
    for (std::size_t k = 1; k < length; ++k) {
      if (i + k >= n) {
        return Utf8Problem{i, fmt::format("truncated sequence: lead byte 0x{:02X} needs {} bytes, {} left", b0, length,
                                          n - i)};
      }
      const auto b = static_cast<unsigned char>(text[i + k]);
      const unsigned char lo = k == 1 ? low : 0x80, hi = k == 1 ? high : 0xBF;
      if (b < lo || b > hi) {
        const char* why = b < 0x80 || b > 0xBF ? "truncated sequence"
                          : b0 == 0xED         ? "surrogate code point"
                          : b0 == 0xF4         ? "code point above U+10FFFF"
                                               : "overlong encoding";
        return Utf8Problem{i, fmt::format("{}: lead byte 0x{:02X} followed by 0x{:02X}", why, b0, b)};
      }
    }
    i += length;
  }
  return std::nullopt;
}

bool is_valid_utf8(std::string_view text) { return !find_invalid_utf8(text).has_value(); }

std::size_t utf8_length(std::string_view text) {
  std::size_t n = 0;
  for (char c : text) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80;  // lead bytes, not continuations
  return n;
}

std::vector<std::string> utf8_chars(std::string_view text) {
  if (auto problem = find_invalid_utf8(text)) {
    throw Utf8Error(fmt::format("invalid UTF-8 at byte offset {}: {}", problem->offset, problem->reason),
                    problem->offset, problem->reason);
  }
  std::vector<std::string> chars;
  chars.reserve(text.size());
  std::size_t i = 0;
  while (i < text.size()) {
    const auto b0 = static_cast<unsigned char>(text[i]);
    const std::size_t length = b0 < 0x80 ? 1 : b0 < 0xE0 ? 2 : b0 < 0xF0 ? 3 : 4;
    chars.emplace_back(text.substr(i, length));
    i += length;
  }
  return chars;
}

}  // namespace tg
