#pragma once
// Bounds of the numeric options. Every number on the command line goes through
// one of these validators, which CLI11 runs on the text before converting it:
// CLI11 alone reads "-5" into a size_t as 2^64 - 5, "1e400" as inf and "010" as
// octal. A value outside its range is a usage error (exit status 2, main.cpp)
// naming the option and the range: "--steps: -5 is not a whole number in
// 0..1000000000". The ranges keep every product of counts far from overflow and
// every allocation finite; docs/cli.md lists them ("What is refused").
#include <cstddef>
#include <cstdint>

#include <CLI/CLI.hpp>

#include "tapegrad/train/horizon_planner.hpp"  // max_steps, the bound of --steps and the other step counts

namespace tg::cli {

/// The most items --dev-sample and --limit count.
inline constexpr std::uint64_t max_items = 1'000'000'000;

/// The largest --beam and --n-best (train, eval, predict).
inline constexpr std::uint64_t max_beam = 1'000;

/// The largest --max-source-length and --max-target-length.
inline constexpr std::uint64_t max_sequence_tokens = 1'000'000;

/// A whole number in min..max, in decimal digits only. The text is handed on
/// without leading zeros, which CLI11 would read as octal.
CLI::Validator whole_in(std::uint64_t min, std::uint64_t max);

/// Which ends of a number_in range are excluded.
enum class Open { none, min, max };

/// A finite number in [min, max]; `open` excludes one end ((0, 100], [0, 1)).
CLI::Validator number_in(double min, double max, Open open = Open::none);

}  // namespace tg::cli
