// AdamW: decoupled decay in closed form, option errors, loss goes down.
#include "problem.hpp"

using namespace tg;
using test::check_values;
using test::param;
using test::set_grad;

TEST_CASE("AdamW's first step decays p by lr * weight_decay, then takes Adam's step") {
  Var p = param({2.0, -1.0});
  AdamW adamw({p}, {.lr = 0.1, .weight_decay = 0.5});
  set_grad(p, {0.5, 0.0});
  adamw.step();
  // The decay does not enter the moments: g = 0 leaves only the decay.
  check_values(p.value(), {2.0 * 0.95 - 0.1 * 0.5 / (0.5 + 1e-8), -1.0 * 0.95}, 1e-15);
  check_values(adamw.state(0).exp_avg, {0.05, 0.0}, 1e-15);
  CHECK(adamw.state(p).step == 1);
  CHECK(adamw.options().weight_decay == 0.5);
  CHECK(AdamWOptions{}.weight_decay == 1e-2);
}

TEST_CASE("AdamW options are validated with the option's name and value") {
  Var p = param({1.0});
  CHECK_THROWS_WITH_AS(AdamW({p}, {.lr = -1}), "AdamW: invalid lr = -1; it must be >= 0", Error);
  CHECK_THROWS_WITH_AS(AdamW({p}, {.beta1 = 1.0}), "AdamW: invalid beta1 = 1; it must be in [0, 1)", Error);
  CHECK_THROWS_WITH_AS(AdamW({p}, {.beta2 = -0.1}), "AdamW: invalid beta2 = -0.1; it must be in [0, 1)", Error);
  CHECK_THROWS_WITH_AS(AdamW({p}, {.eps = -1}), "AdamW: invalid eps = -1; it must be >= 0", Error);
  CHECK_THROWS_WITH_AS(AdamW({p}, {.weight_decay = -1}), "AdamW: invalid weight_decay = -1; it must be >= 0", Error);
}

TEST_CASE("AdamW lowers the loss") {
  for (const AdamWOptions& o : {AdamWOptions{.lr = 0.1}, AdamWOptions{.lr = 0.1, .amsgrad = true}}) {
    test::check_loss_goes_down([&](std::vector<Var> params) { return std::make_unique<AdamW>(std::move(params), o); });
  }
}
