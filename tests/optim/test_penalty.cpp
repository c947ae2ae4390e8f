// l1_penalty: value, gradient (float64 gradcheck) and errors.
#include "problem.hpp"

using namespace tg;
using test::param;

TEST_CASE("l1_penalty is lambda * sum |p| over every parameter") {
  Var a = param({1.0, -2.0, 0.0});
  Var b = param({-0.5}, DType::f64, Shape{});
  Var penalty = l1_penalty({a, b}, 0.1);
  CHECK(penalty.dim() == 0);
  CHECK(penalty.item() == doctest::Approx(0.1 * 3.5).epsilon(1e-15));
  penalty.backward();
  // d/dp = lambda * sign(p), 0 at 0.
  CHECK(a.grad().to_vector() == std::vector<double>{0.1, -0.1, 0.0});
  CHECK(b.grad().item() == -0.1);
}

TEST_CASE("l1_penalty passes a float64 gradcheck") {
  const GradcheckReport report =
      gradcheck([](const std::vector<Var>& x) { return l1_penalty(x, 0.3); },
                {Tensor::normal({3, 4}, 0, 1, 21, DType::f64), Tensor::normal({5}, 0, 1, 22, DType::f64)});
  CHECK_MESSAGE(report.passed, report.message());
}

TEST_CASE("l1_penalty added to a loss pulls parameters towards zero") {
  test::Classifier model(DType::f64);
  Sgd sgd(model.parameters(), {.lr = 0.1});
  current_tape().reset();
  Var loss = l1_penalty(model.parameters(), 1.0);
  loss.backward();
  const double before = model.w.value().at(0);
  sgd.step();
  CHECK(std::abs(model.w.value().at(0)) < std::abs(before));
}

TEST_CASE("l1_penalty errors") {
  Var a = param({1.0});
  CHECK_THROWS_WITH_AS(l1_penalty({a}, -1.0), "l1_penalty: invalid lambda = -1; it must be >= 0", Error);
  CHECK_THROWS_WITH_AS(l1_penalty({}, 1.0), "l1_penalty: got an empty parameter list", Error);
  CHECK_THROWS_WITH_AS(l1_penalty({a, Var()}, 1.0), "l1_penalty: parameter 1 is an undefined Var", Error);
}
