// Rmsprop: closed-form first steps, option errors, loss goes down.
#include "problem.hpp"

using namespace tg;
using test::check_values;
using test::param;
using test::set_grad;

TEST_CASE("Rmsprop's first step is p - lr g / (sqrt(1 - alpha) |g| + eps)") {
  Var p = param({1.0, 1.0});
  Rmsprop rms({p}, {.lr = 0.01, .alpha = 0.75});
  set_grad(p, {2.0, -4.0});
  rms.step();
  check_values(p.value(), {1.0 - 0.01 * 2.0 / (0.5 * 2.0 + 1e-8), 1.0 + 0.01 * 4.0 / (0.5 * 4.0 + 1e-8)}, 1e-15);
  check_values(rms.state(0).square_avg, {1.0, 4.0}, 1e-15);
  CHECK_FALSE(rms.state(0).momentum_buffer.defined());
  CHECK_FALSE(rms.state(0).grad_avg.defined());
}

TEST_CASE("centered Rmsprop subtracts the squared mean; momentum accumulates g / d") {
  Var p = param({0.0});
  Rmsprop rms({p}, {.lr = 0.1, .alpha = 0.5, .eps = 0, .momentum = 0.9, .centered = true});
  set_grad(p, {2.0});
  rms.step();
  // v = 2, a = 1, d = sqrt(2 - 1) = 1, b = g / d = 2.
  check_values(rms.state(0).grad_avg, {1.0}, 1e-15);
  check_values(rms.state(0).momentum_buffer, {2.0}, 1e-15);
  check_values(p.value(), {-0.2}, 1e-15);
}

TEST_CASE("Rmsprop options are validated with the option's name and value") {
  Var p = param({1.0});
  CHECK_THROWS_WITH_AS(Rmsprop({p}, {.lr = -1}), "Rmsprop: invalid lr = -1; it must be >= 0", Error);
  CHECK_THROWS_WITH_AS(Rmsprop({p}, {.alpha = -0.1}), "Rmsprop: invalid alpha = -0.1; it must be >= 0", Error);
  CHECK_THROWS_WITH_AS(Rmsprop({p}, {.eps = -1}), "Rmsprop: invalid eps = -1; it must be >= 0", Error);
  CHECK_THROWS_WITH_AS(Rmsprop({p}, {.weight_decay = -1}), "Rmsprop: invalid weight_decay = -1; it must be >= 0",
                       Error);
  CHECK_THROWS_WITH_AS(Rmsprop({p}, {.momentum = -1}), "Rmsprop: invalid momentum = -1; it must be >= 0", Error);
}

TEST_CASE("Rmsprop lowers the loss") {
  for (const RmspropOptions& o : {RmspropOptions{}, RmspropOptions{.momentum = 0.5, .centered = true}}) {
    test::check_loss_goes_down(
        [&](std::vector<Var> params) { return std::make_unique<Rmsprop>(std::move(params), o); });
  }
}
