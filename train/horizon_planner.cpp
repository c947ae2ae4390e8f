#include "horizon_planner.hpp"

namespace tg {

std::size_t steps_in_range(double steps) {
  if (!(steps > 0)) return 0;
  if (steps >= double(max_steps)) return max_steps;
  return static_cast<std::size_t>(steps);
}

std::size_t epoch_steps(std::size_t epochs, std::size_t per_epoch) {
  std::size_t steps = 0;
  if (__builtin_mul_overflow(epochs, per_epoch, &steps) || steps > max_steps) return max_steps;
  return steps;
}

}  // namespace tg
