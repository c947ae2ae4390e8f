// Sgd: closed-form steps, state, skipped parameters, option errors, and a
// loss-goes-down test per configuration.
#include "problem.hpp"

using namespace tg;
using test::check_values;
using test::param;
using test::set_grad;

TEST_CASE("Sgd without momentum takes p - lr g, in float32 and float64") {
  for (DType dtype : {DType::f32, DType::f64}) {
    CAPTURE(dtype_name(dtype));
    const double tol = dtype == DType::f32 ? 1e-6 : 1e-15;
    Var p = param({1.0, -2.0, 0.5}, dtype);
    Sgd sgd({p}, {.lr = 0.1});
    set_grad(p, {0.5, 1.0, -4.0});
    sgd.step();
    check_values(p.value(), {0.95, -2.1, 0.9}, tol);
    CHECK(p.dtype() == dtype);
    CHECK_FALSE(sgd.state(0).momentum_buffer.defined());
  }
}

TEST_CASE("Sgd weight decay adds weight_decay * p to the gradient") {
  Var p = param({1.0, -2.0});
  Sgd sgd({p}, {.lr = 0.5, .weight_decay = 0.1});
  set_grad(p, {0.2, 0.0});
  sgd.step();
  // p - lr (g + wd p)
  check_values(p.value(), {1.0 - 0.5 * (0.2 + 0.1), -2.0 - 0.5 * (0.0 - 0.2)}, 1e-15);
}

TEST_CASE("Sgd momentum starts from the first gradient, then dampens later ones") {
  Var p = param({1.0, 2.0});
  Sgd sgd({p}, {.lr = 0.1, .momentum = 0.9, .dampening = 0.25});
  set_grad(p, {1.0, -2.0});
  sgd.step();
  // The buffer is the gradient itself, not (1 - dampening) g.
  check_values(sgd.state(0).momentum_buffer, {1.0, -2.0}, 0);
  check_values(p.value(), {0.9, 2.2}, 1e-15);
  set_grad(p, {3.0, 4.0});
  sgd.step();
  const std::vector<double> b = {0.9 * 1.0 + 0.75 * 3.0, 0.9 * -2.0 + 0.75 * 4.0};
  check_values(sgd.state(p).momentum_buffer, b, 1e-15);
  check_values(p.value(), {0.9 - 0.1 * b[0], 2.2 - 0.1 * b[1]}, 1e-15);
}

TEST_CASE("Sgd nesterov steps along g + momentum * b") {
  Var p = param({0.0});
  Sgd sgd({p}, {.lr = 0.1, .momentum = 0.5, .nesterov = true});
  set_grad(p, {2.0});
  sgd.step();
  check_values(p.value(), {-0.1 * (2.0 + 0.5 * 2.0)}, 1e-15);
  set_grad(p, {-1.0});
  sgd.step();
  const double b = 0.5 * 2.0 - 1.0;
  check_values(p.value(), {-0.3 - 0.1 * (-1.0 + 0.5 * b)}, 1e-15);
}

TEST_CASE("Sgd skips a parameter whose gradient is undefined and keeps its buffer") {
  Var a = param({1.0});
  Var b = param({1.0, 1.0});
  Sgd sgd({a, b}, {.lr = 0.1, .momentum = 0.9});
  set_grad(a, {1.0});
  sgd.step();
  check_values(a.value(), {0.9}, 1e-15);
  check_values(b.value(), {1.0, 1.0}, 0);
  CHECK_FALSE(sgd.state(b).momentum_buffer.defined());

  a.zero_grad();
  set_grad(b, {2.0, -2.0});
  sgd.step();
  check_values(a.value(), {0.9}, 0);
  check_values(sgd.state(a).momentum_buffer, {1.0}, 0);
  // b's first gradient initialises its own buffer.
  check_values(sgd.state(b).momentum_buffer, {2.0, -2.0}, 0);
  check_values(b.value(), {0.8, 1.2}, 1e-15);
}

TEST_CASE("Sgd options are validated with the option's name and value") {
  Var p = param({1.0});
  CHECK_THROWS_WITH_AS(Sgd({p}, {.lr = -0.5}), "Sgd: invalid lr = -0.5; it must be >= 0", Error);
  CHECK_THROWS_WITH_AS(Sgd({p}, {.lr = std::nan("")}), doctest::Contains("invalid lr = nan"), Error);
  CHECK_THROWS_WITH_AS(Sgd({p}, {.momentum = -0.9}), "Sgd: invalid momentum = -0.9; it must be >= 0", Error);
  CHECK_THROWS_WITH_AS(Sgd({p}, {.weight_decay = -1}), "Sgd: invalid weight_decay = -1; it must be >= 0", Error);
  CHECK_THROWS_WITH_AS(Sgd({p}, {.dampening = std::nan("")}), doctest::Contains("invalid dampening = nan"), Error);
  CHECK_THROWS_WITH_AS(
      Sgd({p}, {.nesterov = true}),
      doctest::Contains("nesterov momentum requires momentum > 0 and dampening == 0 (got momentum = 0"), Error);
  CHECK_THROWS_WITH_AS(Sgd({p}, {.momentum = 0.9, .dampening = 0.1, .nesterov = true}),
                       doctest::Contains("dampening = 0.1)"), Error);
  CHECK_NOTHROW(Sgd({p}, {.lr = 0, .momentum = 0.9, .nesterov = true}));
}

TEST_CASE("Sgd options() reports the options with the current lr") {
  Var p = param({1.0});
  Sgd sgd({p}, {.lr = 0.3, .momentum = 0.7, .dampening = 0.1, .weight_decay = 0.01});
  sgd.set_lr(0.03);
  SgdOptions o = sgd.options();
  CHECK(o.lr == 0.03);
  CHECK(o.momentum == 0.7);
  CHECK(o.dampening == 0.1);
  CHECK(o.weight_decay == 0.01);
  CHECK_FALSE(o.nesterov);
}

TEST_CASE("Sgd lowers the loss in every configuration") {
  const std::vector<SgdOptions> configs = {
      {.lr = 2.0},
      {.lr = 0.5, .momentum = 0.9},
      {.lr = 0.5, .momentum = 0.9, .dampening = 0.5},
      {.lr = 0.5, .momentum = 0.9, .nesterov = true},
      {.lr = 1.0, .momentum = 0.5, .weight_decay = 1e-3},
  };
  for (std::size_t c = 0; c < configs.size(); ++c) {
    CAPTURE(c);
    test::check_loss_goes_down(
        [&](std::vector<Var> params) { return std::make_unique<Sgd>(std::move(params), configs[c]); });
  }
}
