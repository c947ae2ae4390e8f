// HorizonPlanner on made-up step times: the first plan, when it is revised, and the
// promises of a revised plan: it never lengthens the plan unless the run is ending early, and
// then not past the first plan, and it never plans more steps than the rest of the budget
// fits at the measured rate.
#include <doctest/doctest.h>

#include <cmath>
#include <cstddef>
#include <functional>
#include <optional>

#include "tapegrad/train/horizon_planner.hpp"

namespace {

using tg::HorizonPlanner;

// Steps that `seconds` of budget fit at `seconds_per_step`, counting whole steps only.
std::size_t whole_steps(double seconds, double seconds_per_step) {
  return seconds > 0 ? static_cast<std::size_t>(std::floor(seconds / seconds_per_step)) : 0;
}

// A run as the Trainer drives it: before each step the planner may revise the plan; a step
// started at `elapsed` seconds takes step_seconds(elapsed). Ends at the plan or the budget.
struct SimulatedRun {
  std::size_t first = 0;       // the first plan
  std::size_t steps = 0;       // steps taken
  double elapsed = 0;          // seconds when it ended
  std::size_t extensions = 0;  // revisions that lengthened the plan
};

SimulatedRun simulate(double budget, double timed_seconds_per_step, const std::function<double(double)>& step_seconds) {
  HorizonPlanner planner(budget, 0);
  SimulatedRun run;
  run.first = planner.first_plan(timed_seconds_per_step);
  std::size_t planned = run.first;
  while (run.steps < planned && run.elapsed < budget) {
    if (const std::optional<tg::Replan> r = planner.revise(run.steps, run.elapsed, planned)) {
      if (r->total_steps > planned) ++run.extensions;
      planned = r->total_steps;
      if (run.steps >= planned) break;
    }
    run.elapsed += step_seconds(run.elapsed);
    ++run.steps;
  }
  return run;
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
  HorizonPlanner planner(660, 0);
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
  CHECK_FALSE(r->ended_early);
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
    HorizonPlanner planner(budget, 0);
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

TEST_CASE("a run that a passing slowdown cut short is planned again, longer, and uses its budget") {
  // The main job's second run at 6aef147 (11 minutes): 55 ms per step timed, 68 ms up to 15%
  // of the budget, 169 ms up to half (the host slowed down threefold), then 60 ms again. The
  // plan at half the budget cut the run to about 4,700 steps, which ended it at 71% of its
  // budget; it is planned again when it reaches that end.
  const double budget = 660;
  const auto step_seconds = [&](double elapsed) {
    if (elapsed < 0.15 * budget) return 0.068;
    if (elapsed < 0.5 * budget) return 0.169;
    return 0.060;
  };
  const SimulatedRun run = simulate(budget, 0.055, step_seconds);
  CHECK(run.first == 12000);
  CHECK(run.extensions >= 1);
  CHECK(run.elapsed > (1 - HorizonPlanner::kExtendWhenLeft) * budget);
  CHECK(run.elapsed <= budget);
  CHECK(run.steps <= run.first);
}

TEST_CASE("a run whose plans were right is not lengthened") {
  // Steady steps a little slower than the timed ones: the plans shorten the run to what fits,
  // and it ends within its margin of the budget, with no lengthening.
  const double budget = 660;
  const SimulatedRun run = simulate(budget, 0.061, [](double) { return 0.070; });
  CHECK(run.extensions == 0);
  CHECK(run.elapsed > (1 - HorizonPlanner::kExtendWhenLeft) * budget);
  CHECK(run.elapsed <= budget);
}

TEST_CASE("a plan lengthens only at its end, with budget left, up to the first plan and the limit") {
  const double budget = 100;
  HorizonPlanner planner(budget, /*limit=*/900);
  CHECK(planner.first_plan(0.1) == 1000);
  // Past the first revision: 500 steps in 20 s; the plan of 501 steps ends at the next step.
  std::optional<tg::Replan> r = planner.revise(500, 20, 501);
  REQUIRE(r);
  CHECK(r->total_steps == 900);  // 0.97 * 80 s at 40 ms fits 1,940 more: the limit bounds it
  CHECK(r->ended_early);
  // Not at the plan's last step: nothing (the next scheduled revision is at half the budget).
  CHECK_FALSE(planner.revise(600, 30, 900));
  // At the plan's end, but the plan is already the limit: nothing.
  CHECK_FALSE(planner.revise(899, 40, 900));

  HorizonPlanner late(budget, 0);
  CHECK(late.first_plan(0.1) == 1000);
  REQUIRE(late.revise(100, 16, 400));  // the revision at 15%
  REQUIRE(late.revise(300, 50, 400));  // and at half
  // The plan's end with 10% or less of the budget left: the run ends as planned.
  CHECK_FALSE(late.revise(399, 90, 400));
  CHECK(late.revise(399, 89, 400));
}
