#include "tapegrad/train/horizon_planner.hpp"

#include <algorithm>

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

HorizonPlanner::HorizonPlanner(double budget_seconds, std::size_t limit, std::size_t step, double elapsed)
    : budget_(budget_seconds), limit_(limit), since_step_(step), since_elapsed_(elapsed) {}

std::size_t HorizonPlanner::first_plan(double seconds_per_step) {
  first_plan_ = steps_in_range(kFirstPlanShare * budget_ / seconds_per_step);
  return first_plan_;
}

std::optional<Replan> HorizonPlanner::revise(std::size_t step, double elapsed, std::size_t planned) {
  if (step <= since_step_) return {};
  const bool scheduled = revisions_ < kReviseAt.size() && elapsed >= kReviseAt[revisions_] * budget_;
  const std::size_t longest = limit_ ? std::min(first_plan_, limit_) : first_plan_;
  const bool ending_early = step + 1 >= planned && planned < longest && budget_ - elapsed > kExtendWhenLeft * budget_;
  if (!scheduled && !ending_early) return {};
  Replan r;
  r.measured_steps = step - since_step_;
  r.seconds_per_step = (elapsed - since_elapsed_) / double(r.measured_steps);
  r.total_steps = revised(ending_early ? longest : planned, step, elapsed, r.seconds_per_step);
  r.ended_early = ending_early;
  since_step_ = step;
  since_elapsed_ = elapsed;
  if (scheduled) ++revisions_;
  return r;
}

std::size_t HorizonPlanner::revised(std::size_t planned, std::size_t step, double elapsed,
                                    double seconds_per_step) const {
  std::size_t fit = step + steps_in_range(kRevisedShare * std::max(0.0, budget_ - elapsed) / seconds_per_step);
  if (limit_) fit = std::min(fit, limit_);
  return std::max(std::min(fit, planned), step + 1);
}

}  // namespace tg
