// Adadelta: a closed-form first step, option errors, loss goes down.
#include "problem.hpp"

using namespace tg;
using test::check_values;
using test::param;
using test::set_grad;

TEST_CASE("Adadelta's first step is lr * sqrt(eps) / sqrt((1 - rho) g^2 + eps) * g") {
  Var p = param({1.0});
  Adadelta adadelta({p}, {.lr = 2.0, .rho = 0.75, .eps = 0.01});
  set_grad(p, {2.0});
  adadelta.step();
  const double delta = std::sqrt(0.01) / std::sqrt(0.25 * 4.0 + 0.01) * 2.0;
  check_values(p.value(), {1.0 - 2.0 * delta}, 1e-15);
  check_values(adadelta.state(0).square_avg, {1.0}, 1e-15);
  check_values(adadelta.state(0).acc_delta, {0.25 * delta * delta}, 1e-15);
  CHECK(AdadeltaOptions{}.lr == 1.0);
}

TEST_CASE("Adadelta options are validated with the option's name and value") {
  Var p = param({1.0});
  CHECK_THROWS_WITH_AS(Adadelta({p}, {.lr = -1}), "Adadelta: invalid lr = -1; it must be >= 0", Error);
  CHECK_THROWS_WITH_AS(Adadelta({p}, {.rho = 1.5}), "Adadelta: invalid rho = 1.5; it must be in [0, 1]", Error);
  CHECK_THROWS_WITH_AS(Adadelta({p}, {.rho = -0.1}), "Adadelta: invalid rho = -0.1; it must be in [0, 1]", Error);
  CHECK_THROWS_WITH_AS(Adadelta({p}, {.eps = -1}), "Adadelta: invalid eps = -1; it must be >= 0", Error);
  CHECK_THROWS_WITH_AS(Adadelta({p}, {.weight_decay = -1}), "Adadelta: invalid weight_decay = -1; it must be >= 0",
                       Error);
  CHECK_NOTHROW(Adadelta({p}, {.rho = 1.0}));
}

TEST_CASE("Adadelta lowers the loss") {
  test::check_loss_goes_down([](std::vector<Var> params) {
    return std::make_unique<Adadelta>(std::move(params), AdadeltaOptions{.lr = 10.0});
  });
}
