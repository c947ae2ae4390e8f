// What every optimizer shares: parameter checks, zero_grad, set_lr, gradient
// checks at step time, state lookup, and no allocation after the first step.
#include "problem.hpp"

using namespace tg;
using test::param;
using test::set_grad;

TEST_CASE("optimizers reject parameters they could never update") {
  Var frozen(Tensor::zeros({2, 3}, DType::f64), false);
  frozen.set_name("frozen");
  CHECK_THROWS_WITH_AS(Sgd({frozen}),
                       "Sgd: parameter 0 ('frozen', shape [2, 3], float64) does not require grad, so it would never "
                       "be updated",
                       Error);
  Var p = param({1.0, 2.0});
  Var computed = p * 2.0;
  CHECK_THROWS_WITH_AS(Adam({p, computed}),
                       doctest::Contains("Adam: parameter 1 (unnamed, shape [2], float64) is not a leaf"), Error);
  CHECK_THROWS_WITH_AS(Adam({p, p}), doctest::Contains("parameter 1 ('p', shape [2], float64) appears more than once"),
                       Error);
  CHECK_THROWS_WITH_AS(Sgd(std::vector<Var>{}), "Sgd: got an empty parameter list", Error);
  CHECK_THROWS_WITH_AS(Adam({p, Var()}), "Adam: parameter 1 is an undefined Var", Error);
}

TEST_CASE("zero_grad makes every gradient undefined") {
  Var a = param({1.0});
  Var b = param({1.0, 2.0});
  Sgd sgd({a, b});
  set_grad(a, {1.0});
  set_grad(b, {1.0, 1.0});
  sgd.zero_grad();
  CHECK_FALSE(a.grad().defined());
  CHECK_FALSE(b.grad().defined());
  // With no gradient, a step changes nothing.
  sgd.step();
  CHECK(a.value().at(0) == 1.0);
}

TEST_CASE("set_lr changes the following steps and is validated") {
  Var p = param({1.0});
  Sgd sgd({p}, {.lr = 0.1});
  CHECK(sgd.lr() == 0.1);
  sgd.set_lr(0.5);
  CHECK(sgd.lr() == 0.5);
  set_grad(p, {1.0});
  sgd.step();
  CHECK(p.value().at(0) == 0.5);
  CHECK_THROWS_WITH_AS(sgd.set_lr(-1), "Sgd: invalid lr = -1; it must be >= 0", Error);
  CHECK(sgd.lr() == 0.5);
}

TEST_CASE("parameters() are the same nodes the optimizer updates") {
  Var p = param({1.0});
  Adam adam({p});
  REQUIRE(adam.parameters().size() == 1);
  CHECK(adam.parameters()[0].node() == p.node());
  CHECK(std::string(adam.name()) == "Adam");
}

TEST_CASE("a gradient of the wrong shape or dtype is an error at step time") {
  Var p = param({1.0, 2.0, 3.0});
  p.set_name("fc.bias");
  Sgd sgd({p});
  p.grad() = Tensor::zeros({2}, DType::f64);
  CHECK_THROWS_WITH_AS(sgd.step(),
                       "Sgd: the gradient of parameter 0 ('fc.bias', shape [3], float64) has shape [2] and dtype "
                       "float64; it must match the parameter",
                       Error);
  p.grad() = Tensor::zeros({3}, DType::f32);
  CHECK_THROWS_WITH_AS(sgd.step(), doctest::Contains("has shape [3] and dtype float32"), Error);
  CHECK(p.value().at(0) == 1.0);
}

TEST_CASE("a parameter value replaced by another shape after the first step is an error") {
  Var p = param({1.0, 2.0});
  Adam adam({p});
  set_grad(p, {1.0, 1.0});
  adam.step();
  p.mutable_value() = Tensor::zeros({3}, DType::f64);
  p.grad() = Tensor::zeros({3}, DType::f64);
  CHECK_THROWS_WITH_AS(adam.step(),
                       doctest::Contains("the state 'exp_avg' of parameter 0 ('p', shape [3], float64) "
                                         "has shape [2]"),
                       Error);
  CHECK(adam.state(0).step == 1);

  Var q = param({1.0});
  Sgd sgd({q}, {.momentum = 0.9});
  set_grad(q, {1.0});
  sgd.step();
  q.mutable_value() = Tensor::zeros({1}, DType::f32);
  q.grad() = Tensor::zeros({1}, DType::f32);
  CHECK_THROWS_WITH_AS(sgd.step(), doctest::Contains("the state 'momentum_buffer'"), Error);
}

TEST_CASE("state lookup by index or by parameter") {
  Var a = param({1.0});
  Var b = param({1.0});
  Var other = param({1.0});
  other.set_name("other");
  Adam adam({a, b});
  set_grad(b, {1.0});
  adam.step();
  CHECK(&adam.state(b) == &adam.state(1));
  CHECK(adam.state(b).step == 1);
  CHECK_THROWS_WITH_AS(adam.state(2), "Adam: state index 2 is out of range for 2 parameters", IndexError);
  CHECK_THROWS_WITH_AS(adam.state(other), "Adam: the Var 'other' is not one of this optimizer's parameters",
                       IndexError);
  Sgd sgd({a});
  CHECK_THROWS_AS(sgd.state(1), IndexError);
  CHECK_THROWS_AS(sgd.state(b), IndexError);
}

TEST_CASE("steps after the first allocate no tensor storage") {
  for (DType dtype : {DType::f32, DType::f64}) {
    CAPTURE(dtype_name(dtype));
    Var w = Var::parameter(Tensor::normal({64, 32}, 0, 1, 3, dtype), "w");
    Var b = Var::parameter(Tensor::normal({32}, 0, 1, 4, dtype), "b");
    w.grad() = Tensor::normal({64, 32}, 0, 1, 5, dtype);
    b.grad() = Tensor::normal({32}, 0, 1, 6, dtype);
    Sgd sgd({w, b}, {.momentum = 0.9, .weight_decay = 1e-4, .nesterov = true});
    Adam adam({w, b}, {.weight_decay = 1e-4, .amsgrad = true});
    AdamW adamw({w, b}, {.amsgrad = true});
    Rmsprop rmsprop({w, b}, {.momentum = 0.9, .centered = true});
    Adagrad adagrad({w, b}, {.weight_decay = 1e-4});
    Adadelta adadelta({w, b}, {.weight_decay = 1e-4});
    const std::vector<Optimizer*> all = {&sgd, &adam, &adamw, &rmsprop, &adagrad, &adadelta};
    for (Optimizer* o : all) o->step();
    const std::uint64_t allocations = memory_stats().allocations;
    for (int i = 0; i < 5; ++i) {
      for (Optimizer* o : all) o->step();
    }
    CHECK(memory_stats().allocations == allocations);
  }
}

TEST_CASE("parameters of size zero and rank zero are updated without error") {
  Var empty = Var::parameter(Tensor::zeros({0, 3}, DType::f64), "empty");
  Var scalar = Var::parameter(Tensor::scalar(1.0, DType::f64), "scalar");
  empty.grad() = Tensor::zeros({0, 3}, DType::f64);
  scalar.grad() = Tensor::scalar(2.0, DType::f64);
  Sgd sgd({empty, scalar}, {.lr = 0.5, .momentum = 0.9});
  Adam adam({empty, scalar}, {.lr = 0.5});
  sgd.step();
  CHECK(scalar.item() == 0.0);
  adam.step();
  CHECK(std::abs(scalar.item() + 0.5 * 2.0 / (2.0 + 1e-8)) < 1e-12);
  CHECK(empty.size() == 0);
}
