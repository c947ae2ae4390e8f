#include "tapegrad/data/utf8.hpp"

#include <fmt/format.h>

namespace tg {

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
