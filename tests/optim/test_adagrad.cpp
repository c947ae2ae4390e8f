// Adagrad: closed-form steps with lr_decay, option errors, loss goes down.
#include "problem.hpp"

using namespace tg;
using test::check_values;
using test::param;
using test::set_grad;

TEST_CASE("Adagrad divides by the root of the summed squares, with lr / (1 + (t - 1) lr_decay)") {
  Var p = param({1.0});
  Adagrad adagrad({p}, {.lr = 0.1, .lr_decay = 0.5, .initial_accumulator_value = 5.0, .eps = 0});
  set_grad(p, {2.0});
  adagrad.step();
  check_values(p.value(), {1.0 - 0.1 * 2.0 / 3.0}, 1e-15);  // sqrt(5 + 4) = 3
  set_grad(p, {4.0});
  adagrad.step();
  check_values(adagrad.state(0).sum, {25.0}, 1e-15);
  check_values(p.value(), {1.0 - 0.1 * 2.0 / 3.0 - 0.1 / 1.5 * 4.0 / 5.0}, 1e-15);
  CHECK(adagrad.state(p).step == 2);
}

TEST_CASE("Adagrad options are validated with the option's name and value") {
  Var p = param({1.0});
  CHECK_THROWS_WITH_AS(Adagrad({p}, {.lr = -1}), "Adagrad: invalid lr = -1; it must be >= 0", Error);
  CHECK_THROWS_WITH_AS(Adagrad({p}, {.lr_decay = -1}), "Adagrad: invalid lr_decay = -1; it must be >= 0", Error);
  CHECK_THROWS_WITH_AS(Adagrad({p}, {.weight_decay = -1}), "Adagrad: invalid weight_decay = -1; it must be >= 0",
                       Error);
  CHECK_THROWS_WITH_AS(Adagrad({p}, {.initial_accumulator_value = -1}),
                       "Adagrad: invalid initial_accumulator_value = -1; it must be >= 0", Error);
  CHECK_THROWS_WITH_AS(Adagrad({p}, {.eps = -1}), "Adagrad: invalid eps = -1; it must be >= 0", Error);
}

TEST_CASE("Adagrad lowers the loss") {
  test::check_loss_goes_down(
      [](std::vector<Var> params) { return std::make_unique<Adagrad>(std::move(params), AdagradOptions{.lr = 0.5}); });
}
