#include "tapegrad/cli/bounds.hpp"

#include <cmath>
#include <cstdlib>

#include <fmt/format.h>

namespace tg::cli {
namespace {

std::string shown(const std::string& text) { return text.empty() ? "''" : text; }

}  // namespace

CLI::Validator whole_in(std::uint64_t min, std::uint64_t max) {
  const std::string range = fmt::format("{}..{}", min, max);
  return CLI::Validator(
      [min, max, range](std::string& text) -> std::string {
        const std::string refused = fmt::format("{} is not a whole number in {}", shown(text), range);
        if (text.empty()) return refused;
        std::uint64_t value = 0;
        for (char c : text) {
          if (c < '0' || c > '9') return refused;
          if (__builtin_mul_overflow(value, 10, &value) || __builtin_add_overflow(value, c - '0', &value)) {
            return refused;
          }
        }
        if (value < min || value > max) return refused;
        text = std::to_string(value);
        return "";
      },
      range);
}

CLI::Validator number_in(double min, double max, Open open) {
  const std::string range =
      fmt::format("{}{}, {}{}", open == Open::min ? "(" : "[", min, max, open == Open::max ? ")" : "]");
  return CLI::Validator(
      [min, max, open, range](std::string& text) -> std::string {
        char* end = nullptr;
        const double value = text.empty() ? std::nan("") : std::strtod(text.c_str(), &end);
        const bool parsed = !text.empty() && end == text.c_str() + text.size();
        const bool above = open == Open::min ? value > min : value >= min;
        const bool below = open == Open::max ? value < max : value <= max;
        if (!parsed || !std::isfinite(value) || !above || !below) {
          return fmt::format("{} is not a finite number in {}", shown(text), range);
        }
        return "";
      },
      range);
}

}  // namespace tg::cli
