#pragma once
/// Learning-rate schedules, as torch.optim.lr_scheduler: each scales every
/// parameter group's base lr (the group's lr when the schedule was built).
///
///   tg::AdamW opt(params, {.lr = 3e-4});
///   tg::CosineAnnealingLR schedule(opt, {.t_max = 1000});   // sets step 0's lr
///   for (...) { ...; opt.step(); schedule.step(); }          // then the next step's
///
/// Every schedule but ReduceLROnPlateau is a pure function lr_at(g, t) of the
/// group's base lr and the step t (closed forms; PyTorch computes some of them
/// by chained multiplications, which agree to rounding: the fixtures check 1e-12).

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "tapegrad/optim/optimizer.hpp"

namespace tg {

class LrScheduler {
 public:
  virtual ~LrScheduler();
  LrScheduler(const LrScheduler&) = delete;
  LrScheduler& operator=(const LrScheduler&) = delete;

  /// Advances to the next step and sets every group's lr to lr_at(g, last_step()).
  /// Call it after optimizer.step().
  void step();
  /// The lr of group g at step t >= 0 of this schedule; changes nothing.
  virtual double lr_at(std::size_t g, std::int64_t t) const = 0;

  /// Steps taken since construction (PyTorch's last_epoch); 0 right after it.
  std::int64_t last_step() const { return step_; }
  /// Each group's lr when the schedule was built (PyTorch's base_lrs).
  const std::vector<double>& base_lrs() const { return base_lrs_; }
  /// The lrs this schedule last set, per group (PyTorch's get_last_lr()).
  const std::vector<double>& last_lr() const { return last_lr_; }
  /// The optimizer whose group lrs this schedule sets.
  Optimizer& optimizer() const { return optimizer_; }
  /// "StepLR", ...: the name errors start with.
  const char* name() const { return name_; }

  /// "step" (float64 scalar), and per group g "group.<g>.base_lr" and
  /// "group.<g>.last_lr". The optimizer's own state_dict holds the lrs in use.
  std::map<std::string, Tensor> state_dict() const;
  /// Restores what state_dict() saved into a schedule of the same kind and
  /// options over an optimizer with as many groups; the optimizer's lrs are
  /// not touched (load the optimizer's state for those). All or nothing:
  /// throws tg::Error naming each missing or unexpected key or bad value.
  void load_state_dict(const std::map<std::string, Tensor>& state);

 protected:
  /// Records the optimizer's group lrs as the base lrs; sets nothing yet.
  LrScheduler(const char* name, Optimizer& optimizer);
  /// Base lrs taken from `base_lrs` (one per group) instead.
  LrScheduler(const char* name, Optimizer& optimizer, std::vector<double> base_lrs);
  /// Sets step 0's lr: the last line of every derived constructor, as lr_at is virtual.
  void start();
  /// Throws tg::Error "<name>: invalid <option> = <value>; it must be <rule>" unless ok.
  void check(bool ok, const char* option, double value, const char* rule) const;
  /// Called at the end of load_state_dict, for state that derives from the base lrs.
  virtual void after_load() {}

 private:
  // LinearWarmup hands its loaded base lrs on to its inner schedule.
  friend class LinearWarmup;
  void apply();

  const char* name_;
  Optimizer& optimizer_;
  std::vector<double> base_lrs_;
  std::vector<double> last_lr_;
  std::int64_t step_ = 0;
};

struct StepLROptions {
  /// Steps between two decays, >= 1.
  std::int64_t step_size = 1;
  /// Factor of each decay, >= 0.
  double gamma = 0.1;
};

/// base * gamma^floor(t / step_size) (torch.optim.lr_scheduler.StepLR).
class StepLR : public LrScheduler {
 public:
  /// Throws tg::Error naming step_size < 1 or gamma < 0.
  StepLR(Optimizer& optimizer, const StepLROptions& options);
  double lr_at(std::size_t g, std::int64_t t) const override;

 private:
  StepLROptions options_;
};

struct ExponentialLROptions {
  /// Factor per step, >= 0.
  double gamma = 0.99;
};

/// base * gamma^t (torch.optim.lr_scheduler.ExponentialLR).
class ExponentialLR : public LrScheduler {
 public:
  /// Throws tg::Error naming gamma < 0.
  ExponentialLR(Optimizer& optimizer, const ExponentialLROptions& options);
  double lr_at(std::size_t g, std::int64_t t) const override;

 private:
  ExponentialLROptions options_;
};

struct CosineAnnealingLROptions {
  /// Steps from base down to eta_min (PyTorch's T_max), >= 1; beyond, the cosine goes on (back up).
  std::int64_t t_max = 1;
  /// The lowest lr, >= 0.
  double eta_min = 0;
};

/// eta_min + (base - eta_min) * (1 + cos(pi * t / t_max)) / 2
/// (torch.optim.lr_scheduler.CosineAnnealingLR).
class CosineAnnealingLR : public LrScheduler {
 public:
  /// Throws tg::Error naming t_max < 1 or eta_min < 0.
  CosineAnnealingLR(Optimizer& optimizer, const CosineAnnealingLROptions& options);
  double lr_at(std::size_t g, std::int64_t t) const override;

 private:
  CosineAnnealingLROptions options_;
};

struct CosineAnnealingWarmRestartsOptions {
  /// Length of the first cycle (PyTorch's T_0), >= 1.
  std::int64_t t_0 = 1;
  /// Each cycle is t_mult times longer than the previous (PyTorch's T_mult), >= 1.
  std::int64_t t_mult = 1;
  /// The lowest lr, >= 0.
  double eta_min = 0;
};

/// eta_min + (base - eta_min) * (1 + cos(pi * t_cur / t_i)) / 2, where t_i is
/// the current cycle's length and t_cur the steps into it; back to base at each
/// restart (torch.optim.lr_scheduler.CosineAnnealingWarmRestarts, stepped without epoch).
class CosineAnnealingWarmRestarts : public LrScheduler {
 public:
  /// Throws tg::Error naming t_0 < 1, t_mult < 1 or eta_min < 0.
  CosineAnnealingWarmRestarts(Optimizer& optimizer, const CosineAnnealingWarmRestartsOptions& options);
  double lr_at(std::size_t g, std::int64_t t) const override;

 private:
  CosineAnnealingWarmRestartsOptions options_;
};

struct NoamLROptions {
  /// Steps of linear warmup, >= 1.
  std::int64_t warmup = 4000;
  /// Multiplies the factor, > 0: the Transformer's d_model^-0.5; sqrt(warmup) makes the peak factor 1.
  double scale = 1;
};

/// base * scale * min(s^-0.5, s * warmup^-1.5) with s = max(t, 1): linear
/// warmup, then inverse square root decay ("Attention is all you need"; in
/// PyTorch a LambdaLR with that lambda; s = max(t, 1) keeps step 0 finite).
class NoamLR : public LrScheduler {
 public:
  /// Throws tg::Error naming warmup < 1 or scale <= 0.
  NoamLR(Optimizer& optimizer, const NoamLROptions& options);
  double lr_at(std::size_t g, std::int64_t t) const override;

 private:
  NoamLROptions options_;
};

struct LinearWarmupOptions {
  /// Factor of the base lr at step 0, in [0, 1].
  double start_factor = 0.1;
  /// Steps of warmup, >= 1; the inner schedule starts at this step.
  std::int64_t warmup_steps = 1;
};

/// base * (start_factor + (1 - start_factor) * t / warmup_steps) for t <
/// warmup_steps, then inner.lr_at(g, t - warmup_steps): PyTorch 1.13's
/// SequentialLR([LinearLR(start_factor, total_iters=warmup_steps), inner],
/// milestones=[warmup_steps]), whose last warmup lr is base * (start_factor +
/// (1 - start_factor) * (w - 1) / w) and whose inner schedule restarts at its
/// step 0 (its base lr) at the milestone. The base lrs are the inner's; the
/// inner schedule is used only through lr_at (its own step() is never called).
class LinearWarmup : public LrScheduler {
 public:
  /// Throws tg::Error for a null inner, start_factor outside [0, 1] or warmup_steps < 1.
  LinearWarmup(std::unique_ptr<LrScheduler> inner, const LinearWarmupOptions& options);
  double lr_at(std::size_t g, std::int64_t t) const override;
  /// The schedule that follows the warmup.
  const LrScheduler& inner() const { return *inner_; }

 protected:
  void after_load() override;

 private:
  std::unique_ptr<LrScheduler> inner_;
  LinearWarmupOptions options_;
};

/// Whether a lower (min) or a higher (max) metric is better.
enum class PlateauMode { min, max };
/// How ReduceLROnPlateau's threshold compares a metric with the best so far.
enum class ThresholdMode {
  rel,  ///< better than best * (1 -/+ threshold)
  abs   ///< better than best -/+ threshold
};

struct ReduceLROnPlateauOptions {
  /// Whether the metric should go down (loss) or up (accuracy).
  PlateauMode mode = PlateauMode::min;
  /// lr = max(lr * factor, min_lr) on a plateau; in [0, 1).
  double factor = 0.1;
  /// Bad steps tolerated; the lr drops at the patience+1-th in a row, >= 0.
  std::int64_t patience = 10;
  /// How much better than the best a metric must be to count as better, >= 0.
  double threshold = 1e-4;
  /// Relative or absolute threshold.
  ThresholdMode threshold_mode = ThresholdMode::rel;
  /// Steps after a drop during which bad steps are not counted, >= 0.
  std::int64_t cooldown = 0;
  /// Lower bound of every group's lr, >= 0.
  double min_lr = 0;
  /// A drop smaller than eps is not made, >= 0.
  double eps = 1e-8;
};

/// Lowers every group's lr by `factor` when the metric has not improved for
/// `patience` steps, as torch.optim.lr_scheduler.ReduceLROnPlateau. It acts
/// on the groups' current lrs, not on base lrs, and sets nothing at construction.
class ReduceLROnPlateau {
 public:
  /// Throws tg::Error naming the option: factor outside [0, 1), patience,
  /// cooldown, threshold, min_lr or eps below 0.
  ReduceLROnPlateau(Optimizer& optimizer, const ReduceLROnPlateauOptions& options = {});

  /// One step with this step's metric (a NaN metric is never better).
  void step(double metric);
  /// Every group's lr after the last step (at construction, the current ones).
  const std::vector<double>& last_lr() const { return last_lr_; }
  /// Steps taken (PyTorch's last_epoch).
  std::int64_t last_step() const { return step_; }
  /// The best metric so far (+inf in min mode, -inf in max mode before any).
  double best() const { return best_; }
  /// Bad steps in a row (not counted during cooldown).
  std::int64_t num_bad_steps() const { return num_bad_steps_; }
  /// Steps of cooldown left.
  std::int64_t cooldown_counter() const { return cooldown_counter_; }

  /// "step", "best", "num_bad_steps", "cooldown_counter" (float64 scalars)
  /// and per group "group.<g>.last_lr".
  std::map<std::string, Tensor> state_dict() const;
  /// Restores what state_dict() saved; all or nothing, as LrScheduler's.
  void load_state_dict(const std::map<std::string, Tensor>& state);

 private:
  bool is_better(double metric) const;

  Optimizer& optimizer_;
  ReduceLROnPlateauOptions options_;
  std::vector<double> last_lr_;
  std::int64_t step_ = 0;
  double best_;
  std::int64_t num_bad_steps_ = 0;
  std::int64_t cooldown_counter_ = 0;
};

}  // namespace tg
