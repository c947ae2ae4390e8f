// Adam: closed-form first steps, state, amsgrad, skipped parameters, option
// errors, and a loss-goes-down test per configuration.
#include "problem.hpp"

using namespace tg;
using test::check_values;
using test::param;
using test::set_grad;

TEST_CASE("Adam's first step is p - lr g / (|g| + eps), in float32 and float64") {
  for (DType dtype : {DType::f32, DType::f64}) {
    CAPTURE(dtype_name(dtype));
    const double tol = dtype == DType::f32 ? 1e-6 : 1e-12;
    const double lr = 0.01;
    // 1e-8 equals eps, so it moves by exactly half a step.
    const std::vector<double> g = {0.5, -2.0, 1e-8, 0.0};
    Var p = param({1.0, 1.0, 1.0, 1.0}, dtype);
    Adam adam({p}, {.lr = lr});
    set_grad(p, g);
    adam.step();
    std::vector<double> want;
    for (double gi : g) want.push_back(1.0 - lr * gi / (std::abs(gi) + 1e-8));
    check_values(p.value(), want, tol);
    check_values(p.value(), {0.99, 1.01, 0.995, 1.0}, dtype == DType::f32 ? 1e-6 : 1e-9);
  }
}

TEST_CASE("Adam keeps step, exp_avg and exp_avg_sq per parameter") {
  Var p = param({0.0, 0.0});
  Adam adam({p}, {.lr = 0.1, .beta1 = 0.8, .beta2 = 0.9});
  CHECK(adam.state(0).step == 0);
  CHECK_FALSE(adam.state(0).exp_avg.defined());
  set_grad(p, {1.0, -3.0});
  adam.step();
  const AdamState& s = adam.state(p);
  CHECK(s.step == 1);
  check_values(s.exp_avg, {0.2, -0.6}, 1e-15);
  check_values(s.exp_avg_sq, {0.1, 0.9}, 1e-15);
  CHECK_FALSE(s.max_exp_avg_sq.defined());

  set_grad(p, {2.0, 1.0});
  adam.step();
  CHECK(s.step == 2);
  const std::vector<double> m = {0.8 * 0.2 + 0.2 * 2.0, 0.8 * -0.6 + 0.2 * 1.0};
  const std::vector<double> v = {0.9 * 0.1 + 0.1 * 4.0, 0.9 * 0.9 + 0.1 * 1.0};
  check_values(s.exp_avg, m, 1e-15);
  check_values(s.exp_avg_sq, v, 1e-15);
  // Bias corrections with t = 2.
  std::vector<double> want;
  const std::vector<double> after_one = {-0.1 * 1.0 / (1.0 + 1e-8), 0.1 * 3.0 / (3.0 + 1e-8)};
  for (std::size_t i = 0; i < 2; ++i) {
    const double m_hat = m[i] / (1 - 0.8 * 0.8);
    const double v_hat = v[i] / (1 - 0.9 * 0.9);
    want.push_back(after_one[i] - 0.1 * m_hat / (std::sqrt(v_hat) + 1e-8));
  }
  check_values(p.value(), want, 1e-12);
}

TEST_CASE("Adam weight decay adds weight_decay * p to the gradient before the moments") {
  Var p = param({2.0});
  Adam adam({p}, {.lr = 0.1, .weight_decay = 0.5});
  set_grad(p, {-0.5});
  adam.step();
  // g + wd p = 0.5: the first step moves by -lr g / (|g| + eps).
  check_values(p.value(), {2.0 - 0.1 * 0.5 / (0.5 + 1e-8)}, 1e-12);
  check_values(adam.state(0).exp_avg, {0.1 * 0.5}, 1e-15);
}

TEST_CASE("Adam amsgrad normalises by the running maximum of exp_avg_sq") {
  Var p = param({0.0});
  Adam adam({p}, {.lr = 0.1, .beta2 = 0.5, .amsgrad = true});
  set_grad(p, {4.0});
  adam.step();
  check_values(adam.state(0).max_exp_avg_sq, {8.0}, 1e-15);
  set_grad(p, {0.0});
  adam.step();
  const AdamState& s = adam.state(0);
  check_values(s.exp_avg_sq, {4.0}, 1e-15);
  check_values(s.max_exp_avg_sq, {8.0}, 1e-15);
  // Second step: m = 0.9 * 0.4, vmax = 8, corrections with t = 2.
  const double m_hat = 0.36 / (1 - 0.81);
  const double v_hat = 8.0 / (1 - 0.25);
  check_values(p.value(), {-0.1 * 4.0 / (4.0 + 1e-8) - 0.1 * m_hat / (std::sqrt(v_hat) + 1e-8)}, 1e-12);
  // Without amsgrad the smaller exp_avg_sq would give a larger step.
  Var q = param({0.0});
  Adam plain({q}, {.lr = 0.1, .beta2 = 0.5});
  set_grad(q, {4.0});
  plain.step();
  set_grad(q, {0.0});
  plain.step();
  CHECK(q.value().at(0) < p.value().at(0));
}

TEST_CASE("Adam skips parameters without a gradient: no state, no step count") {
  Var a = param({1.0});
  Var b = param({1.0});
  Adam adam({a, b}, {.lr = 0.1});
  set_grad(a, {1.0});
  adam.step();
  adam.step();  // the gradient stays until zero_grad
  CHECK(adam.state(a).step == 2);
  CHECK(adam.state(b).step == 0);
  CHECK_FALSE(adam.state(b).exp_avg.defined());
  check_values(b.value(), {1.0}, 0);

  adam.zero_grad();
  CHECK_FALSE(a.grad().defined());
  set_grad(b, {-1.0});
  const double a_before = a.value().at(0);
  adam.step();
  CHECK(a.value().at(0) == a_before);
  CHECK(adam.state(a).step == 2);
  // b's first step is a full first step (bias corrections with t = 1).
  CHECK(adam.state(b).step == 1);
  check_values(b.value(), {1.0 + 0.1 / (1.0 + 1e-8)}, 1e-12);
}

TEST_CASE("Adam options are validated with the option's name and value") {
  Var p = param({1.0});
  CHECK_THROWS_WITH_AS(Adam({p}, {.lr = -1e-3}), "Adam: invalid lr = -0.001; it must be >= 0", Error);
  CHECK_THROWS_WITH_AS(Adam({p}, {.beta1 = 1.0}), "Adam: invalid beta1 = 1; it must be in [0, 1)", Error);
  CHECK_THROWS_WITH_AS(Adam({p}, {.beta2 = -0.1}), "Adam: invalid beta2 = -0.1; it must be in [0, 1)", Error);
  CHECK_THROWS_WITH_AS(Adam({p}, {.beta2 = std::nan("")}), doctest::Contains("invalid beta2 = nan"), Error);
  CHECK_THROWS_WITH_AS(Adam({p}, {.eps = -1e-8}), "Adam: invalid eps = -1e-08; it must be >= 0", Error);
  CHECK_THROWS_WITH_AS(Adam({p}, {.weight_decay = -0.01}), "Adam: invalid weight_decay = -0.01; it must be >= 0",
                       Error);
  CHECK_NOTHROW(Adam({p}, {.lr = 0, .beta1 = 0, .beta2 = 0, .eps = 0}));
}

TEST_CASE("Adam options() reports the options with the current lr") {
  Var p = param({1.0});
  Adam adam({p}, {.lr = 0.1, .beta1 = 0.5, .beta2 = 0.6, .eps = 1e-3, .weight_decay = 0.2, .amsgrad = true});
  adam.set_lr(0.05);
  AdamOptions o = adam.options();
  CHECK(o.lr == 0.05);
  CHECK(o.beta1 == 0.5);
  CHECK(o.beta2 == 0.6);
  CHECK(o.eps == 1e-3);
  CHECK(o.weight_decay == 0.2);
  CHECK(o.amsgrad);
}

TEST_CASE("Adam lowers the loss in every configuration") {
  const std::vector<AdamOptions> configs = {
      {.lr = 0.1},
      {.lr = 0.1, .weight_decay = 1e-3},
      {.lr = 0.1, .amsgrad = true},
      {.lr = 0.05, .beta1 = 0.5, .beta2 = 0.9, .eps = 1e-4},
  };
  for (std::size_t c = 0; c < configs.size(); ++c) {
    CAPTURE(c);
    test::check_loss_goes_down(
        [&](std::vector<Var> params) { return std::make_unique<Adam>(std::move(params), configs[c]); });
  }
  // The default lr (1e-3) is small, but one step still lowers the loss.
  test::Classifier model(DType::f32);
  Adam adam(model.parameters());
  const double initial = model.train_step(adam);
  CHECK(model.loss() < initial);
}
