#include "tapegrad/base/utf8.hpp"

#include <fmt/format.h>

namespace tg {

std::size_t utf8_char_length(std::string_view text, std::size_t at, std::string* reason) {
  const std::size_t n = text.size();
  const auto b0 = static_cast<unsigned char>(text[at]);
  if (b0 < 0x80) return 1;
  auto refuse = [&](std::string why) -> std::size_t {
    if (reason) *reason = std::move(why);
    return 0;
  };
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
    return refuse(fmt::format("continuation byte 0x{:02X} without a lead byte", b0));
  } else if (b0 == 0xC0 || b0 == 0xC1) {
    return refuse(fmt::format("overlong encoding (lead byte 0x{:02X})", b0));
  } else {
    return refuse(fmt::format("byte 0x{:02X} never appears in UTF-8", b0));
  }
  for (std::size_t k = 1; k < length; ++k) {
    if (at + k >= n) {
      return refuse(fmt::format("truncated sequence: lead byte 0x{:02X} needs {} bytes, {} left", b0, length, n - at));
    }
    const auto b = static_cast<unsigned char>(text[at + k]);
    const unsigned char lo = k == 1 ? low : 0x80, hi = k == 1 ? high : 0xBF;
    if (b < lo || b > hi) {
      const char* why = b < 0x80 || b > 0xBF ? "truncated sequence"
                        : b0 == 0xED         ? "surrogate code point"
                        : b0 == 0xF4         ? "code point above U+10FFFF"
                                             : "overlong encoding";
      return refuse(fmt::format("{}: lead byte 0x{:02X} followed by 0x{:02X}", why, b0, b));
    }
  }
  return length;
}

std::optional<Utf8Problem> find_invalid_utf8(std::string_view text) {
  std::size_t i = 0;
  while (i < text.size()) {
    std::string reason;
    const std::size_t length = utf8_char_length(text, i, &reason);
    if (length == 0) return Utf8Problem{i, std::move(reason)};
    i += length;
  }
  return std::nullopt;
}

bool is_valid_utf8(std::string_view text) { return !find_invalid_utf8(text).has_value(); }

std::string_view without_bom(std::string_view text) {
  constexpr std::string_view bom = "\xEF\xBB\xBF";
  return text.starts_with(bom) ? text.substr(bom.size()) : text;
}

std::size_t utf8_length(std::string_view text) {
  std::size_t n = 0;
  for (char c : text) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80;  // lead bytes, not continuations
  return n;
}

}  // namespace tg
