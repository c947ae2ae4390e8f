#pragma once
// The horizon of a run: how many optimizer steps its schedule plans.
#include <cstddef>
#include <cstdint>

namespace tg {

/// The most optimizer steps a run may plan: the bound of --steps, --warmup and
/// the other step counts, and where a planned horizon is clamped.
inline constexpr std::uint64_t max_steps = 1'000'000'000;

/// `steps` as a count in 0..max_steps (NaN: 0), for a horizon planned from a
/// time budget: a quick step against a long budget does not overflow.
std::size_t steps_in_range(double steps);
/// epochs * per_epoch, at most max_steps.
std::size_t epoch_steps(std::size_t epochs, std::size_t per_epoch);

}  // namespace tg
