// Learning-rate schedules against torch.optim.lr_scheduler (the lrs of two
// groups over 30 steps, from tests/fixtures/optim.json), exact resume through
// state dicts, and option errors.
#include <nlohmann/json.hpp>

#include "fixtures.hpp"
#include "problem.hpp"

using namespace tg;
using nlohmann::json;

namespace {

const json& fixtures() {
  static const json data = test::load_fixtures("optim.json");
  return data;
}

// Two groups with the fixtures' base lrs (0.1 and 0.02).
struct TwoGroups {
  Var a = test::param({0.0});
  Var b = test::param({0.0});
  Sgd sgd;
  TwoGroups()
      : sgd(std::vector<ParamGroup>{{.params = {a}, .lr = fixtures().at("base_lrs").at(0).get<double>()},
                                    {.params = {b}, .lr = fixtures().at("base_lrs").at(1).get<double>()}},
            {.lr = 1.0}) {}
};

std::unique_ptr<LrScheduler> make_schedule(Optimizer& optimizer, const std::string& kind, const json& o) {
  if (kind == "step") {
    return std::make_unique<StepLR>(optimizer, StepLROptions{.step_size = o.at("step_size"), .gamma = o.at("gamma")});
  }
  if (kind == "exponential")
    return std::make_unique<ExponentialLR>(optimizer, ExponentialLROptions{.gamma = o.at("gamma")});
  if (kind == "cosine") {
    return std::make_unique<CosineAnnealingLR>(
        optimizer, CosineAnnealingLROptions{.t_max = o.at("t_max"), .eta_min = o.value("eta_min", 0.0)});
  }
  if (kind == "warm_restarts") {
    return std::make_unique<CosineAnnealingWarmRestarts>(
        optimizer,
        CosineAnnealingWarmRestartsOptions{.t_0 = o.at("t_0"), .t_mult = o.at("t_mult"), .eta_min = o.at("eta_min")});
  }
  if (kind == "noam")
    return std::make_unique<NoamLR>(optimizer, NoamLROptions{.warmup = o.at("warmup"), .scale = o.at("scale")});
  REQUIRE(kind == "warmup");
  const json& inner = o.at("inner");
  return std::make_unique<LinearWarmup>(
      make_schedule(optimizer, inner.at("kind"), inner),
      LinearWarmupOptions{.start_factor = o.at("start_factor"), .warmup_steps = o.at("warmup_steps")});
}

void check_lrs(const Optimizer& optimizer, const std::vector<double>& last_lr, const json& want) {
  REQUIRE(want.size() == 2);
  for (std::size_t g = 0; g < 2; ++g) {
    CAPTURE(g);
    CHECK(std::abs(optimizer.group_lr(g) - want.at(g).get<double>()) <= 1e-12);
    CHECK(last_lr.at(g) == optimizer.group_lr(g));
  }
}

ReduceLROnPlateauOptions plateau_options(const json& o) {
  return {.mode = o.value("mode", "min") == "min" ? PlateauMode::min : PlateauMode::max,
          .factor = o.value("factor", 0.1),
          .patience = o.value("patience", 10),
          .threshold = o.value("threshold", 1e-4),
          .threshold_mode = o.value("threshold_mode", "rel") == "rel" ? ThresholdMode::rel : ThresholdMode::abs,
          .cooldown = o.value("cooldown", 0),
          .min_lr = o.value("min_lr", 0.0)};
}

}  // namespace

TEST_CASE("every schedule sets PyTorch's lrs for two groups over 30 steps, to 1e-12") {
  const json& schedules = fixtures().at("schedules");
  REQUIRE(schedules.size() >= 9);
  for (const json& k : schedules) {
    CAPTURE(k.at("name").get<std::string>());
    TwoGroups groups;
    std::unique_ptr<LrScheduler> schedule = make_schedule(groups.sgd, k.at("kind"), k.at("options"));
    const json& lrs = k.at("lrs");
    REQUIRE(lrs.size() == 31);
    CHECK(schedule->base_lrs() == std::vector<double>{0.1, 0.02});
    for (std::size_t t = 0; t < lrs.size(); ++t) {
      CAPTURE(t);
      if (t > 0) {
        groups.sgd.step();
        schedule->step();
      }
      CHECK(schedule->last_step() == static_cast<std::int64_t>(t));
      check_lrs(groups.sgd, schedule->last_lr(), lrs.at(t));
      CHECK(schedule->lr_at(1, static_cast<std::int64_t>(t)) == groups.sgd.group_lr(1));
    }
  }
}

TEST_CASE("ReduceLROnPlateau follows PyTorch's lrs for a fixed metric sequence") {
  const json& plateau = fixtures().at("plateau");
  const std::vector<double> metrics = plateau.at("metrics");
  for (const json& k : plateau.at("cases")) {
    CAPTURE(k.at("name").get<std::string>());
    TwoGroups groups;
    ReduceLROnPlateau schedule(groups.sgd, plateau_options(k.at("options")));
    check_lrs(groups.sgd, schedule.last_lr(), json::array({0.1, 0.02}));
    for (std::size_t t = 0; t < metrics.size(); ++t) {
      CAPTURE(t);
      schedule.step(metrics[t]);
      check_lrs(groups.sgd, schedule.last_lr(), k.at("lrs").at(t));
    }
  }
}

TEST_CASE("a schedule resumed from state dicts sets exactly the lrs of an uninterrupted one") {
  for (const json& k : fixtures().at("schedules")) {
    CAPTURE(k.at("name").get<std::string>());
    TwoGroups straight, first;
    std::unique_ptr<LrScheduler> a = make_schedule(straight.sgd, k.at("kind"), k.at("options"));
    std::unique_ptr<LrScheduler> b = make_schedule(first.sgd, k.at("kind"), k.at("options"));
    for (int t = 0; t < 12; ++t) b->step();
    const auto optimizer_state = first.sgd.state_dict();
    const auto schedule_state = b->state_dict();
    CHECK(schedule_state.at("step").item() == 12);

    TwoGroups second;
    // Loading the optimizer first gives the fresh schedule step 12's lrs as base lrs: loading
    // the schedule's state restores the true ones (the inner schedule's too) and the step.
    second.sgd.load_state_dict(optimizer_state);
    std::unique_ptr<LrScheduler> c = make_schedule(second.sgd, k.at("kind"), k.at("options"));
    c->load_state_dict(schedule_state);
    CHECK(c->base_lrs() == std::vector<double>{0.1, 0.02});
    second.sgd.load_state_dict(optimizer_state);
    CHECK(c->last_lr() == b->last_lr());
    for (int t = 0; t < 12; ++t) a->step();
    for (int t = 12; t < 30; ++t) {
      a->step();
      c->step();
      CHECK(straight.sgd.group_lr(0) == second.sgd.group_lr(0));
      CHECK(straight.sgd.group_lr(1) == second.sgd.group_lr(1));
    }
  }
  // ReduceLROnPlateau carries its best, bad-step and cooldown counts.
  const std::vector<double> metrics = fixtures().at("plateau").at("metrics");
  TwoGroups straight, first, second;
  const ReduceLROnPlateauOptions options{.factor = 0.5, .patience = 1, .cooldown = 2};
  ReduceLROnPlateau a(straight.sgd, options), b(first.sgd, options), c(second.sgd, options);
  for (std::size_t t = 0; t < 7; ++t) {
    a.step(metrics[t]);
    b.step(metrics[t]);
  }
  second.sgd.load_state_dict(first.sgd.state_dict());
  c.load_state_dict(b.state_dict());
  CHECK(c.best() == b.best());
  for (std::size_t t = 7; t < metrics.size(); ++t) {
    a.step(metrics[t]);
    c.step(metrics[t]);
    CHECK(straight.sgd.group_lr(1) == second.sgd.group_lr(1));
    CHECK(a.num_bad_steps() == c.num_bad_steps());
    CHECK(a.cooldown_counter() == c.cooldown_counter());
  }
}

TEST_CASE("schedule load_state_dict refuses missing, unexpected and malformed keys") {
  TwoGroups groups;
  StepLR schedule(groups.sgd, {.step_size = 2});
  std::map<std::string, Tensor> s = schedule.state_dict();
  s.erase("group.1.base_lr");
  s["group.2.base_lr"] = Tensor::scalar(0.1, DType::f64);
  CHECK_THROWS_WITH_AS(schedule.load_state_dict(s),
                       "StepLR: load_state_dict: missing key 'group.1.base_lr'; unexpected key 'group.2.base_lr'",
                       Error);
  s = schedule.state_dict();
  s["step"] = Tensor::scalar(-1, DType::f64);
  CHECK_THROWS_WITH_AS(schedule.load_state_dict(s), doctest::Contains("'step' = -1 is not a step count"), Error);
  s["step"] = Tensor::scalar(3, DType::f32);
  CHECK_THROWS_WITH_AS(schedule.load_state_dict(s), doctest::Contains("'step' has shape [] and dtype float32"), Error);
  CHECK(schedule.last_step() == 0);
  ReduceLROnPlateau plateau(groups.sgd);
  CHECK_THROWS_WITH_AS(plateau.load_state_dict(schedule.state_dict()),
                       doctest::Contains("ReduceLROnPlateau: load_state_dict: missing key 'best'"), Error);
}

TEST_CASE("schedule options are validated with the option's name and value") {
  TwoGroups groups;
  Sgd& o = groups.sgd;
  CHECK_THROWS_WITH_AS(StepLR(o, {.step_size = 0}), "StepLR: invalid step_size = 0; it must be >= 1", Error);
  CHECK_THROWS_WITH_AS(StepLR(o, {.gamma = -0.5}), "StepLR: invalid gamma = -0.5; it must be >= 0", Error);
  CHECK_THROWS_WITH_AS(ExponentialLR(o, {.gamma = std::nan("")}), "ExponentialLR: invalid gamma = nan; it must be >= 0",
                       Error);
  CHECK_THROWS_WITH_AS(CosineAnnealingLR(o, {.t_max = 0}), "CosineAnnealingLR: invalid t_max = 0; it must be >= 1",
                       Error);
  CHECK_THROWS_WITH_AS(CosineAnnealingLR(o, {.t_max = 5, .eta_min = -1}), doctest::Contains("invalid eta_min = -1"),
                       Error);
  CHECK_THROWS_WITH_AS(CosineAnnealingWarmRestarts(o, {.t_0 = 0}),
                       "CosineAnnealingWarmRestarts: invalid t_0 = 0; it must be >= 1", Error);
  CHECK_THROWS_WITH_AS(CosineAnnealingWarmRestarts(o, {.t_0 = 2, .t_mult = 0}), doctest::Contains("invalid t_mult = 0"),
                       Error);
  CHECK_THROWS_WITH_AS(NoamLR(o, {.warmup = 0}), "NoamLR: invalid warmup = 0; it must be >= 1", Error);
  CHECK_THROWS_WITH_AS(NoamLR(o, {.scale = 0}), "NoamLR: invalid scale = 0; it must be > 0", Error);
  CHECK_THROWS_WITH_AS(LinearWarmup(nullptr, {}), "LinearWarmup: the inner schedule is null", Error);
  CHECK_THROWS_WITH_AS(LinearWarmup(std::make_unique<StepLR>(o, StepLROptions{}), {.start_factor = 1.5}),
                       "LinearWarmup: invalid start_factor = 1.5; it must be in [0, 1]", Error);
  CHECK_THROWS_WITH_AS(LinearWarmup(std::make_unique<StepLR>(o, StepLROptions{}), {.warmup_steps = 0}),
                       "LinearWarmup: invalid warmup_steps = 0; it must be >= 1", Error);
  CHECK_THROWS_WITH_AS(ReduceLROnPlateau(o, {.factor = 1.0}),
                       "ReduceLROnPlateau: invalid factor = 1; it must be in [0, 1)", Error);
  CHECK_THROWS_WITH_AS(ReduceLROnPlateau(o, {.patience = -1}), doctest::Contains("invalid patience = -1"), Error);
  CHECK_THROWS_WITH_AS(ReduceLROnPlateau(o, {.threshold = -1}), doctest::Contains("invalid threshold = -1"), Error);
  CHECK_THROWS_WITH_AS(ReduceLROnPlateau(o, {.cooldown = -1}), doctest::Contains("invalid cooldown = -1"), Error);
  CHECK_THROWS_WITH_AS(ReduceLROnPlateau(o, {.min_lr = -1}), doctest::Contains("invalid min_lr = -1"), Error);
}
