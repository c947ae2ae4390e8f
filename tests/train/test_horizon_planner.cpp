// HorizonPlanner on made-up step times: the first plan, when it is revised, and the two
// promises of a revised plan: it never lengthens the plan, and it never plans more steps
// than the rest of the budget fits at the measured rate.
#include <doctest/doctest.h>

#include <cmath>
#include <cstddef>
#include <optional>

#include "tapegrad/train/horizon_planner.hpp"

namespace {

using tg::HorizonPlanner;

// Steps that `seconds` of budget fit at `seconds_per_step`, counting whole steps only.
std::size_t whole_steps(double seconds, double seconds_per_step) {
  return seconds > 0 ? static_cast<std::size_t>(std::floor(seconds / seconds_per_step)) : 0;
}

}  // namespace

TEST_CASE("steps_in_range and epoch_steps clamp to max_steps") {
  CHECK(tg::steps_in_range(-1.0) == 0);
  CHECK(tg::steps_in_range(std::nan("")) == 0);
  CHECK(tg::steps_in_range(12.9) == 12);
  CHECK(tg::steps_in_range(1e300) == tg::max_steps);
  CHECK(tg::epoch_steps(3, 947) == 2841);
  CHECK(tg::epoch_steps(std::size_t(1) << 62, 16) == tg::max_steps);  // the product overflows
}

TEST_CASE("the first plan is kFirstPlanShare of the steps that timed ones say fit") {
  // 660 seconds at 61 ms per step: 10,819 steps fit, all of them planned as the upper bound.
  const HorizonPlanner planner(660, 0);
  CHECK(planner.first_plan(0.061) == 10819);
  CHECK(planner.first_plan(0.061) <= whole_steps(660, 0.061));
  // A step slower than the whole budget: nothing fits; a step of no time: clamped, no overflow.
  CHECK(planner.first_plan(1000) == 0);
  CHECK(planner.first_plan(0) == tg::max_steps);
}

TEST_CASE("a plan is revised once each share of the budget has gone, from the steps since the last") {
  HorizonPlanner planner(100, 0);
  std::size_t planned = 2000;
  // Before 15% of the budget: no revision, whatever the step.
  CHECK_FALSE(planner.revise(100, 14.9, planned));
  // Past 15%: 200 steps in 15.5 s, 77.5 ms each; 0.97 of the 84.5 s left fit 1,057 more.
  std::optional<tg::Replan> r = planner.revise(200, 15.5, planned);
  REQUIRE(r);
  CHECK(r->measured_steps == 200);
  CHECK(r->seconds_per_step == doctest::Approx(0.0775));
  CHECK(r->total_steps == 200 + 1057);
  planned = r->total_steps;
  // The next revision waits for half of the budget and measures only the steps since.
  CHECK_FALSE(planner.revise(600, 49, planned));
  r = planner.revise(700, 50, planned);
  REQUIRE(r);
  CHECK(r->measured_steps == 500);
  CHECK(r->seconds_per_step == doctest::Approx(0.069));
  // Two revisions in all.
  CHECK_FALSE(planner.revise(1000, 90, r->total_steps));
}

TEST_CASE("a revision needs a step since the last plan") {
  HorizonPlanner planner(100, 0, /*step=*/40, /*elapsed=*/20);
  CHECK_FALSE(planner.revise(40, 30, 500));  // past 15%, but no step taken: no rate to measure
  CHECK(planner.revise(41, 30, 500));
}

TEST_CASE("once the run has started, a revised plan never lengthens it") {
  // Made-up timings like those of the main job of afb42d2 (11 minutes): 8,180 steps planned
  // from 63 ms timed steps, then 71 ms per step over the first 1,401 steps and 70 ms over the
  // next 3,317. Plans from those rates would lengthen the run (to 9,059, then 9,267), which
  // the budget ends early if the later steps run slower, before the schedule has decayed.
  const double budget = 660;
  HorizonPlanner planner(budget, 0);
  const std::size_t first = 8180;
  std::optional<tg::Replan> r = planner.revise(1401, 99.47, first);
  REQUIRE(r);
  CHECK(planner.revised(tg::max_steps, 1401, 99.47, r->seconds_per_step) == 9059);  // what would fit
  CHECK(r->total_steps == first);
  const double elapsed = 99.47 + 3317 * 0.070;
  r = planner.revise(1401 + 3317, elapsed, r->total_steps);
  REQUIRE(r);
  CHECK(planner.revised(tg::max_steps, 4718, elapsed, r->seconds_per_step) == 9267);
  CHECK(r->total_steps == first);

  // Slower steps than planned: the plan is shortened.
  HorizonPlanner slow(budget, 0);
  r = slow.revise(1000, 99, 9000);
  REQUIRE(r);
  CHECK(r->total_steps == 6496);  // 1,000 and 0.97 of the 561 s left at 99 ms per step

  // Whatever the rate, the position and the plan: never longer than planned, and ahead.
  for (std::size_t step : {500, 1000, 5000}) {
    for (double elapsed_now : {100.0, 330.0, 500.0, 659.0, 700.0}) {
      for (std::size_t extra : {1, 500, 10000, 100000}) {
        HorizonPlanner p(budget, 0);
        const std::optional<tg::Replan> got = p.revise(step, elapsed_now, step + extra);
        REQUIRE(got);
        CHECK(got->total_steps <= step + extra);
        CHECK(got->total_steps > step);
      }
    }
  }
}

TEST_CASE("a plan never exceeds what the rest of the budget fits at the measured rate") {
  const double budget = 600;
  for (double sps : {0.01, 0.043, 0.061, 0.08, 0.5, 7.0}) {
    const HorizonPlanner planner(budget, 0);
    // The first plan: at most the whole budget at the timed rate.
    CHECK(planner.first_plan(sps) <= whole_steps(budget, sps));
    for (double elapsed : {90.0, 150.0, 300.0, 450.0, 599.0}) {
      const std::size_t step = static_cast<std::size_t>(elapsed / sps);
      const std::size_t fits = whole_steps(budget - elapsed, sps);
      const std::size_t plan = planner.revised(tg::max_steps, step, elapsed, sps);
      if (fits >= 1) {
        CHECK(plan - step <= fits);
        CHECK(double(plan - step) * sps <= budget - elapsed);
      } else {
        CHECK(plan == step + 1);  // one more step, so that the run reaches its budget check
      }
    }
  }
}

TEST_CASE("a revised plan keeps within --steps and --epochs, and at least one step ahead") {
  const HorizonPlanner planner(600, /*limit=*/3000);
  CHECK(planner.revised(100000, 1000, 100, 0.01) == 3000);  // 48,500 would fit
  CHECK(planner.revised(100000, 1000, 600, 0.01) == 1001);  // the budget is spent
  CHECK(planner.revised(100000, 1000, 700, 0.01) == 1001);  // and overrun by an evaluation
  CHECK(planner.revised(1200, 1000, 100, 0.01) == 1200);    // the plan is shorter still
}
