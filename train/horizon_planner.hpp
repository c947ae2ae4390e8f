#pragma once
// The horizon of a run: how many optimizer steps its schedule plans. With a
// time budget, the steps that fit are planned from measured step times: first
// from a few timed steps before the run, which a busy machine makes noisy,
// then again from the steps the run has taken. docs/performance.md has the
// measurements behind the constants.
#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>

namespace tg {

/// The most optimizer steps a run may plan: the bound of --steps, --warmup and
/// the other step counts, and where a planned horizon is clamped.
inline constexpr std::uint64_t max_steps = 1'000'000'000;

/// `steps` as a count in 0..max_steps (NaN: 0), for a horizon planned from a
/// time budget: a quick step against a long budget does not overflow.
std::size_t steps_in_range(double steps);
/// epochs * per_epoch, at most max_steps.
std::size_t epoch_steps(std::size_t epochs, std::size_t per_epoch);

/// A revised plan, and the steps it was measured on.
struct Replan {
  std::size_t total_steps = 0;  ///< the new horizon (see HorizonPlanner for when it may be longer)
  double seconds_per_step = 0;  ///< over the steps since the previous plan, evaluations included
  std::size_t measured_steps = 0;
  bool ended_early = false;  ///< made because the run reached its plan's end with budget left
};

/// Plans the horizon of a run with a time budget. The first plan, from timed steps before the
/// run, may be anything; once the run has started, a revised plan at a share of the budget
/// (kReviseAt) may shorten it, never lengthen it: a longer plan would rest on the steps
/// measured so far, and when the later steps run slower the budget ends the run before its
/// schedule has decayed. One case lengthens: a run that reaches the end of its plan with more
/// than kExtendWhenLeft of its budget left (the steps before a plan ran slower than the later
/// ones, as when the machine was busy for a while) is planned again from the steps since the
/// last plan, up to the first plan; its schedule then rises again and decays to the new end.
class HorizonPlanner {
 public:
  /// The first plan's share of the steps that timed ones say fit: all of them. A run's steps
  /// average slower than steps timed alone (its evaluations, colder caches), so this is an upper
  /// bound, which the revised plans, that may only shorten it, bring down to what fits.
  static constexpr double kFirstPlanShare = 1.0;
  /// A revised plan's share of the rest of the budget: a margin for the spread of step times
  /// and the last dev evaluation.
  static constexpr double kRevisedShare = 0.97;
  /// The shares of the budget after which the plan is revised, each from the steps since the
  /// previous plan: the first revision corrects the timed steps' noise, the second leaves out
  /// the first epoch, slower than the rest.
  static constexpr std::array<double, 2> kReviseAt = {0.15, 0.5};
  /// The share of the budget that a run ending its plan may leave unused before it is planned
  /// again, longer: what the last plans' margin (kRevisedShare) and the spread of step times
  /// leave on a run whose plans were right.
  static constexpr double kExtendWhenLeft = 0.1;

  /// A run of `budget_seconds` (> 0) that may take at most `limit` steps (--steps and --epochs;
  /// 0: no limit), starting at `step` after `elapsed` seconds.
  HorizonPlanner(double budget_seconds, std::size_t limit, std::size_t step = 0, double elapsed = 0);

  /// The steps that fit the budget at `seconds_per_step`, timed before the run: the first plan
  /// (the caller bounds it by --steps and --epochs), and the most that a run ending early is
  /// planned again to.
  std::size_t first_plan(double seconds_per_step);

  /// Before the step after `step`, taken `elapsed` seconds into the run, with `planned` steps
  /// planned (more than `step`): once the next share of the budget (kReviseAt) has gone, the
  /// revised plan from the steps since the previous one; before the plan's last step with
  /// more than kExtendWhenLeft of the budget left, the plan lengthened from those steps, at
  /// most to the first plan (nothing when the plan already is the first plan or the limit);
  /// otherwise nothing.
  std::optional<Replan> revise(std::size_t step, double elapsed, std::size_t planned);

  /// The plan at `step`, `elapsed` seconds into the run, when steps take `seconds_per_step`:
  /// `step` and the steps that kRevisedShare of the rest of the budget fits, within the limit,
  /// at most `planned`, and at least `step` + 1 (the run then stops at its budget check).
  std::size_t revised(std::size_t planned, std::size_t step, double elapsed, double seconds_per_step) const;

 private:
  double budget_;
  std::size_t limit_;
  std::size_t first_plan_ = 0;  ///< 0 until first_plan(): then no plan lengthens
  std::size_t revisions_ = 0;
  std::size_t since_step_;
  double since_elapsed_;
};

}  // namespace tg
