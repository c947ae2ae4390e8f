#include "tapegrad/data/text_file.hpp"

#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>

#include "tapegrad/base/file.hpp"

namespace tg {

std::string read_text_file(const std::filesystem::path& path) {
  check_regular_file(path);
  std::ifstream in(path, std::ios::binary);
  if (!in) throw FileError(fmt::format("cannot open '{}' for reading: {}", path.string(), errno_text(errno)));
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) throw FileError(fmt::format("cannot read '{}': {}", path.string(), errno_text(errno)));
  return bytes;
}

std::vector<TextLine> split_lines(std::string_view text) {
  std::vector<TextLine> lines;
  std::size_t begin = 0, number = 1;
  while (begin < text.size()) {
    std::size_t end = text.find('\n', begin);
    const std::size_t next = end == std::string_view::npos ? text.size() : end + 1;
    if (end == std::string_view::npos) end = text.size();
    std::size_t stop = end;
    if (stop > begin && text[stop - 1] == '\r') --stop;
    lines.push_back({text.substr(begin, stop - begin), number++, begin});
    begin = next;
  }
  return lines;
}

std::optional<LongLine> LengthLimits::check(std::size_t line, std::size_t source_tokens,
                                            std::size_t target_tokens) const {
  if (source && source_tokens > source) return LongLine{line, true, source_tokens, source};
  if (target && target_tokens > target) return LongLine{line, false, target_tokens, target};
  return std::nullopt;
}

}  // namespace tg
