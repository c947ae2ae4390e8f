#include "tapegrad/optim/schedule.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numbers>
#include <set>

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace tg {

namespace {

// Checks that `state` holds exactly `keys`, each a float64 scalar, and that
// the `counts` among them are whole numbers >= 0; throws naming every problem.
void check_scalars(const char* owner, const std::map<std::string, Tensor>& state, const std::vector<std::string>& keys,
                   const std::set<std::string>& counts) {
  std::vector<std::string> problems;
  const std::set<std::string> expected(keys.begin(), keys.end());
  for (const std::string& key : keys) {
    auto it = state.find(key);
    if (it == state.end()) {
      problems.push_back(fmt::format("missing key '{}'", key));
      continue;
    }
    const Tensor& t = it->second;
    if (!t.defined() || t.dtype() != DType::f64 || t.dim() != 0) {
      problems.push_back(t.defined() ? fmt::format("'{}' has shape {} and dtype {}; it must be a float64 scalar "
                                                   "(shape [])",
                                                   key, shape_str(t.shape()), dtype_name(t.dtype()))
                                     : fmt::format("'{}' is an undefined tensor", key));
    } else if (counts.contains(key) && !(t.item() >= 0 && t.item() == std::floor(t.item()) && t.item() < 9e15)) {
      problems.push_back(fmt::format("'{}' = {} is not a step count", key, t.item()));
    }
  }
  for (const auto& [key, t] : state) {
    if (!expected.contains(key)) problems.push_back(fmt::format("unexpected key '{}'", key));
  }
  if (!problems.empty()) throw Error(fmt::format("{}: load_state_dict: {}", owner, fmt::join(problems, "; ")));
}

std::vector<double> group_lrs(const Optimizer& optimizer) {
  std::vector<double> lrs;
  for (std::size_t g = 0; g < optimizer.group_count(); ++g) lrs.push_back(optimizer.group_lr(g));
  return lrs;
}

}  // namespace

// ---- LrScheduler ----

LrScheduler::LrScheduler(const char* name, Optimizer& optimizer) : LrScheduler(name, optimizer, group_lrs(optimizer)) {}

LrScheduler::LrScheduler(const char* name, Optimizer& optimizer, std::vector<double> base_lrs)
    : name_(name), optimizer_(optimizer), base_lrs_(std::move(base_lrs)) {}

LrScheduler::~LrScheduler() = default;

void LrScheduler::start() {
  step_ = 0;
  apply();
}

void LrScheduler::step() {
  ++step_;
  apply();
}

void LrScheduler::apply() {
  last_lr_.resize(base_lrs_.size());
  for (std::size_t g = 0; g < base_lrs_.size(); ++g) {
    last_lr_[g] = lr_at(g, step_);
    optimizer_.set_group_lr(g, last_lr_[g]);
  }
}

void LrScheduler::check(bool ok, const char* option, double value, const char* rule) const {
  if (!ok) throw Error(fmt::format("{}: invalid {} = {}; it must be {}", name_, option, value, rule));
}

std::map<std::string, Tensor> LrScheduler::state_dict() const {
  std::map<std::string, Tensor> out;
  out["step"] = Tensor::scalar(static_cast<double>(step_), DType::f64);
  for (std::size_t g = 0; g < base_lrs_.size(); ++g) {
    out[fmt::format("group.{}.base_lr", g)] = Tensor::scalar(base_lrs_[g], DType::f64);
    out[fmt::format("group.{}.last_lr", g)] = Tensor::scalar(last_lr_[g], DType::f64);
  }
  return out;
}

void LrScheduler::load_state_dict(const std::map<std::string, Tensor>& state) {
  std::vector<std::string> keys = {"step"};
  for (std::size_t g = 0; g < base_lrs_.size(); ++g) {
    keys.push_back(fmt::format("group.{}.base_lr", g));
    keys.push_back(fmt::format("group.{}.last_lr", g));
  }
  check_scalars(name_, state, keys, {"step"});
  step_ = static_cast<std::int64_t>(state.at("step").item());
  for (std::size_t g = 0; g < base_lrs_.size(); ++g) {
    base_lrs_[g] = state.at(fmt::format("group.{}.base_lr", g)).item();
    last_lr_[g] = state.at(fmt::format("group.{}.last_lr", g)).item();
  }
  after_load();
}

// ---- closed-form schedules ----

StepLR::StepLR(Optimizer& optimizer, const StepLROptions& options)
    : LrScheduler("StepLR", optimizer), options_(options) {
  check(options.step_size >= 1, "step_size", static_cast<double>(options.step_size), ">= 1");
  check(options.gamma >= 0, "gamma", options.gamma, ">= 0");
  start();
}

double StepLR::lr_at(std::size_t g, std::int64_t t) const {
  return base_lrs()[g] * std::pow(options_.gamma, static_cast<double>(t / options_.step_size));
}

ExponentialLR::ExponentialLR(Optimizer& optimizer, const ExponentialLROptions& options)
    : LrScheduler("ExponentialLR", optimizer), options_(options) {
  check(options.gamma >= 0, "gamma", options.gamma, ">= 0");
  start();
}

double ExponentialLR::lr_at(std::size_t g, std::int64_t t) const {
  return base_lrs()[g] * std::pow(options_.gamma, static_cast<double>(t));
}

CosineAnnealingLR::CosineAnnealingLR(Optimizer& optimizer, const CosineAnnealingLROptions& options)
    : LrScheduler("CosineAnnealingLR", optimizer), options_(options) {
  check(options.t_max >= 1, "t_max", static_cast<double>(options.t_max), ">= 1");
  check(options.eta_min >= 0, "eta_min", options.eta_min, ">= 0");
  start();
}

double CosineAnnealingLR::lr_at(std::size_t g, std::int64_t t) const {
  const double eta_min = options_.eta_min;
  const double angle = std::numbers::pi * static_cast<double>(t) / static_cast<double>(options_.t_max);
  return eta_min + (base_lrs()[g] - eta_min) * (1 + std::cos(angle)) / 2;
}

CosineAnnealingWarmRestarts::CosineAnnealingWarmRestarts(Optimizer& optimizer,
                                                         const CosineAnnealingWarmRestartsOptions& options)
    : LrScheduler("CosineAnnealingWarmRestarts", optimizer), options_(options) {
  check(options.t_0 >= 1, "t_0", static_cast<double>(options.t_0), ">= 1");
  check(options.t_mult >= 1, "t_mult", static_cast<double>(options.t_mult), ">= 1");
  check(options.eta_min >= 0, "eta_min", options.eta_min, ">= 0");
  start();
}

double CosineAnnealingWarmRestarts::lr_at(std::size_t g, std::int64_t t) const {
  // PyTorch counts t_cur up and, at t_i, subtracts t_i and multiplies t_i by t_mult.
  std::int64_t t_i = options_.t_0;
  std::int64_t t_cur = t;
  if (options_.t_mult == 1) {
    t_cur = t % t_i;
  } else {
    while (t_cur >= t_i) {
      t_cur -= t_i;
      t_i *= options_.t_mult;
    }
  }
  const double eta_min = options_.eta_min;
  const double angle = std::numbers::pi * static_cast<double>(t_cur) / static_cast<double>(t_i);
  return eta_min + (base_lrs()[g] - eta_min) * (1 + std::cos(angle)) / 2;
}

NoamLR::NoamLR(Optimizer& optimizer, const NoamLROptions& options)
    : LrScheduler("NoamLR", optimizer), options_(options) {
  check(options.warmup >= 1, "warmup", static_cast<double>(options.warmup), ">= 1");
  check(options.scale > 0, "scale", options.scale, "> 0");
  start();
}

double NoamLR::lr_at(std::size_t g, std::int64_t t) const {
  const double s = static_cast<double>(std::max<std::int64_t>(t, 1));
  const double w = static_cast<double>(options_.warmup);
  return base_lrs()[g] * (options_.scale * std::min(std::pow(s, -0.5), s * std::pow(w, -1.5)));
}

namespace {

LrScheduler& non_null(const std::unique_ptr<LrScheduler>& inner) {
  if (!inner) throw Error("LinearWarmup: the inner schedule is null");
  return *inner;
}

}  // namespace

LinearWarmup::LinearWarmup(std::unique_ptr<LrScheduler> inner, const LinearWarmupOptions& options)
    : LrScheduler("LinearWarmup", non_null(inner).optimizer(), non_null(inner).base_lrs()),
      inner_(std::move(inner)),
      options_(options) {
  check(options.start_factor >= 0 && options.start_factor <= 1, "start_factor", options.start_factor, "in [0, 1]");
  check(options.warmup_steps >= 1, "warmup_steps", static_cast<double>(options.warmup_steps), ">= 1");
  start();
}

double LinearWarmup::lr_at(std::size_t g, std::int64_t t) const {
  const std::int64_t w = options_.warmup_steps;
  if (t >= w) return inner_->lr_at(g, t - w);
  const double s = options_.start_factor;
  return base_lrs()[g] * (s + (1 - s) * static_cast<double>(t) / static_cast<double>(w));
}

void LinearWarmup::after_load() { inner_->base_lrs_ = base_lrs(); }

// ---- ReduceLROnPlateau ----

ReduceLROnPlateau::ReduceLROnPlateau(Optimizer& optimizer, const ReduceLROnPlateauOptions& options)
    : optimizer_(optimizer), options_(options), last_lr_(group_lrs(optimizer)) {
  auto check = [](bool ok, const char* option, double value, const char* rule) {
    if (!ok) throw Error(fmt::format("ReduceLROnPlateau: invalid {} = {}; it must be {}", option, value, rule));
  };
  check(options.factor >= 0 && options.factor < 1, "factor", options.factor, "in [0, 1)");
  check(options.patience >= 0, "patience", static_cast<double>(options.patience), ">= 0");
  check(options.threshold >= 0, "threshold", options.threshold, ">= 0");
  check(options.cooldown >= 0, "cooldown", static_cast<double>(options.cooldown), ">= 0");
  check(options.min_lr >= 0, "min_lr", options.min_lr, ">= 0");
  check(options.eps >= 0, "eps", options.eps, ">= 0");
  best_ = options.mode == PlateauMode::min ? std::numeric_limits<double>::infinity()
                                           : -std::numeric_limits<double>::infinity();
}

bool ReduceLROnPlateau::is_better(double metric) const {
  const double th = options_.threshold;
  const bool rel = options_.threshold_mode == ThresholdMode::rel;
  if (options_.mode == PlateauMode::min) return rel ? metric < best_ * (1. - th) : metric < best_ - th;
  return rel ? metric > best_ * (th + 1.) : metric > best_ + th;
}

void ReduceLROnPlateau::step(double metric) {
  // PyTorch's order: best and bad steps, then cooldown, then the drop.
  ++step_;
  if (is_better(metric)) {
    best_ = metric;
    num_bad_steps_ = 0;
  } else {
    ++num_bad_steps_;
  }
  if (cooldown_counter_ > 0) {
    --cooldown_counter_;
    num_bad_steps_ = 0;
  }
  if (num_bad_steps_ > options_.patience) {
    for (std::size_t g = 0; g < optimizer_.group_count(); ++g) {
      const double old_lr = optimizer_.group_lr(g);
      const double new_lr = std::max(old_lr * options_.factor, options_.min_lr);
      if (old_lr - new_lr > options_.eps) optimizer_.set_group_lr(g, new_lr);
    }
    cooldown_counter_ = options_.cooldown;
    num_bad_steps_ = 0;
  }
  last_lr_ = group_lrs(optimizer_);
}

std::map<std::string, Tensor> ReduceLROnPlateau::state_dict() const {
  std::map<std::string, Tensor> out;
  out["step"] = Tensor::scalar(static_cast<double>(step_), DType::f64);
  out["best"] = Tensor::scalar(best_, DType::f64);
  out["num_bad_steps"] = Tensor::scalar(static_cast<double>(num_bad_steps_), DType::f64);
  out["cooldown_counter"] = Tensor::scalar(static_cast<double>(cooldown_counter_), DType::f64);
  for (std::size_t g = 0; g < last_lr_.size(); ++g) {
    out[fmt::format("group.{}.last_lr", g)] = Tensor::scalar(last_lr_[g], DType::f64);
  }
  return out;
}

void ReduceLROnPlateau::load_state_dict(const std::map<std::string, Tensor>& state) {
  std::vector<std::string> keys = {"step", "best", "num_bad_steps", "cooldown_counter"};
  for (std::size_t g = 0; g < last_lr_.size(); ++g) keys.push_back(fmt::format("group.{}.last_lr", g));
  check_scalars("ReduceLROnPlateau", state, keys, {"step", "num_bad_steps", "cooldown_counter"});
  step_ = static_cast<std::int64_t>(state.at("step").item());
  best_ = state.at("best").item();
  num_bad_steps_ = static_cast<std::int64_t>(state.at("num_bad_steps").item());
  cooldown_counter_ = static_cast<std::int64_t>(state.at("cooldown_counter").item());
  for (std::size_t g = 0; g < last_lr_.size(); ++g) last_lr_[g] = state.at(fmt::format("group.{}.last_lr", g)).item();
}

}  // namespace tg
