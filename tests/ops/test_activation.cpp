#include "check.hpp"
#include "ops/activation.hpp"
#include "ops/elementwise.hpp"

using namespace tg;
using tg::test::expect_gradcheck;
using tg::test::randn;

TEST_CASE("activations pass gradcheck") {
  for (Shape s : {Shape{7}, Shape{2, 1, 3}, Shape{}, Shape{1, 4}}) {
    CAPTURE(shape_str(s));
    Tensor x = randn(s, 31);
    expect_gradcheck([](const std::vector<Var>& v) { return tanh(v[0]); }, {x});
    expect_gradcheck([](const std::vector<Var>& v) { return sigmoid(v[0]); }, {x});
    // relu away from its kink at 0
    Tensor off_zero = x;
    for (std::size_t i = 0; i < off_zero.size(); ++i) off_zero.set(i, off_zero.at(i) + (off_zero.at(i) >= 0 ? 0.1 : -0.1));
    expect_gradcheck([](const std::vector<Var>& v) { return relu(v[0]); }, {off_zero});
  }
}

TEST_CASE("sigmoid and tanh saturate without NaN at extreme inputs") {
  Var x(Tensor::from_vector({-1000, -50, 0, 50, 1000}, {5}));
  std::vector<double> s = sigmoid(x).value().to_vector();
  CHECK(s[0] == 0);
  CHECK(s[1] < 1e-20);
  CHECK(s[2] == 0.5);
  CHECK(s[4] == 1);
  CHECK(all_finite(tanh(x).value()));
  CHECK(relu(x).value().to_vector() == std::vector<double>{0, 0, 0, 50, 1000});
}
