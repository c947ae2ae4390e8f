#include <cmath>
#include <vector>

#include "check.hpp"
#include "tapegrad/ops/activation.hpp"
#include "tapegrad/ops/elementwise.hpp"
#include "tapegrad/ops/linalg.hpp"
#include "tapegrad/ops/reduce.hpp"
#include "tapegrad/ops/shape.hpp"
#include "tapegrad/ops/weight_grads.hpp"

using namespace tg;

namespace {

struct RestoreBatching {
  WeightGradBatching before = weight_grad_batching();
  ~RestoreBatching() { set_weight_grad_batching(before); }
};

// A recurrence over `steps` steps that uses its weights the way an RNN does: a = tanh(addmm(
// linear(x_t, w_ih, b), h, w_hh^T)), h = a + linear(h, w_s) + linear_pair(x_t, w_ih, a, w_hh, b),
// then the gradients of sum(h^2). Returns h and every input's gradient.
std::vector<std::vector<double>> recurrence(DType dtype, std::size_t steps, std::size_t rows, std::size_t hidden,
                                            std::size_t in) {
  Var w_hh(Tensor::normal({hidden, hidden}, 0, 0.3, 601, dtype), true);
  Var w_s(Tensor::normal({hidden, hidden}, 0, 0.3, 602, dtype), true);
  Var w_ih(Tensor::normal({hidden, in}, 0, 0.3, 603, dtype), true);
  Var b(Tensor::normal({hidden}, 0, 1, 604, dtype), true);
  Var x(Tensor::normal({steps, rows, in}, 0, 1, 605, dtype), true);
  Var h(Tensor::normal({rows, hidden}, 0, 1, 606, dtype), true);
  Var state = h;
  for (std::size_t t = 0; t < steps; ++t) {
    Var x_t = reshape(slice(x, 0, static_cast<long>(t), static_cast<long>(t) + 1), Shape{rows, in});
    Var a = tanh(addmm(linear(x_t, w_ih, b), state, w_hh, false, true));
    state = a + linear(state, w_s) + linear_pair(x_t, w_ih, a, w_hh, b, Var());
  }
  sum(mul(state, state)).backward();
  return {state.value().to_vector(), w_hh.grad().to_vector(), w_s.grad().to_vector(), w_ih.grad().to_vector(),
          b.grad().to_vector(),      x.grad().to_vector(),    h.grad().to_vector()};
}

}  // namespace

// The recurrence's values and gradients with `policy` against each op adding at once, in
// float32 and float64.
void check_gathered_as_at_once(WeightGradBatching policy, std::size_t steps, std::size_t rows, std::size_t hidden,
                               std::size_t in) {
  RestoreBatching restore;
  for (DType dtype : {DType::f32, DType::f64}) {
    CAPTURE(dtype_name(dtype));
    set_weight_grad_batching(WeightGradBatching::never);
    const auto at_once = recurrence(dtype, steps, rows, hidden, in);
    set_weight_grad_batching(policy);
    const auto gathered = recurrence(dtype, steps, rows, hidden, in);
    for (std::size_t r = 0; r < at_once.size(); ++r) {
      CAPTURE(r);
      CHECK(test::relative_gap(gathered[r], at_once[r]) < (dtype == DType::f32 ? 1e-5 : 1e-12));
    }
  }
}

TEST_CASE("weight gradients gathered over the pass equal those each op adds at once") {
  check_gathered_as_at_once(WeightGradBatching::always, 6, 5, 12, 7);
}

TEST_CASE("gathered weight gradients past the 2 MB cap are added early, and the sums stay the same") {
  // Each step keeps about 0.9 MB of dY and x (64 rows; weights [512, 512] and [512, 256]):
  // the uses are added early every few steps.
  check_gathered_as_at_once(WeightGradBatching::automatic, 9, 64, 512, 256);
}

TEST_CASE("gathered weight gradients pass gradcheck, and add onto a gradient the weight already has") {
  RestoreBatching restore;
  set_weight_grad_batching(WeightGradBatching::always);
  // One weight used by three steps of a recurrence, by linear, addmm and linear_pair.
  test::expect_gradcheck(
      [](const std::vector<Var>& in) {
        Var h = in[0];
        for (int t = 0; t < 3; ++t) {
          h = tanh(addmm(linear(h, in[1], in[2]), h, in[1], false, true));
          h = linear_pair(h, in[1], in[0], in[1], in[2], Var());
        }
        return sum(mul(h, h));
      },
      {Tensor::normal({3, 4}, 0, 1, 611, DType::f64), Tensor::normal({4, 4}, 0, 0.4, 612, DType::f64),
       Tensor::normal({4}, 0, 1, 613, DType::f64)});

  Var x(Tensor::normal({3, 4}, 0, 1, 614, DType::f64), true), w(Tensor::normal({5, 4}, 0, 1, 615, DType::f64), true);
  sum(linear(x, w)).backward();
  const std::vector<double> once = w.grad().to_vector();
  sum(add(linear(x, w), linear(x, w))).backward();  // two more uses, onto the first gradient
  const std::vector<double> thrice = w.grad().to_vector();
  for (std::size_t i = 0; i < once.size(); ++i) CHECK(thrice[i] == doctest::Approx(3 * once[i]).epsilon(1e-12));
}

TEST_CASE("a weight's gradient is gathered only where that pays and nothing can read it early") {
  RestoreBatching restore;
  set_weight_grad_batching(WeightGradBatching::always);
  // A computed weight (w2 = 2 w) passes its gradient on to w during the pass: added at once.
  Var x(Tensor::normal({3, 4}, 0, 1, 621, DType::f32), true), w(Tensor::normal({5, 4}, 0, 1, 622, DType::f32), true);
  Var w2 = mul(w, Var(Tensor::scalar(2.0, DType::f32)));
  sum(linear(x, w2)).backward();
  std::vector<double> expected(20, 0.0);
  const std::vector<double> xs = x.value().to_vector();
  for (std::size_t o = 0; o < 5; ++o)
    for (std::size_t i = 0; i < 4; ++i)
      for (std::size_t r = 0; r < 3; ++r) expected[o * 4 + i] += 2 * xs[r * 4 + i];
  const std::vector<double> got = w.grad().to_vector();
  for (std::size_t i = 0; i < got.size(); ++i) CHECK(got[i] == doctest::Approx(expected[i]).epsilon(1e-5));
}

TEST_CASE("a gathered weight gradient goes to the thread's LeafGradients slot when one holds the weight") {
  RestoreBatching restore;
  set_weight_grad_batching(WeightGradBatching::always);
  Var w(Tensor::normal({6, 4}, 0, 0.5, 611, DType::f64), true);
  Var x(Tensor::normal({3, 4}, 0, 1, 612, DType::f64), false);
  auto loss = [&] {
    Var h = tanh(linear(x, w));
    return sum(mul(linear(x, w), h));  // two uses of w, both gathered
  };
  loss().backward();
  const std::vector<double> expected = w.grad().to_vector();
  w.zero_grad();
  LeafGradients own({w});
  {
    UseLeafGradients use(own);
    loss().backward();
  }
  CHECK_FALSE(w.grad().defined());
  REQUIRE(own.grad(0).defined());
  CHECK(own.grad(0).to_vector() == expected);
}

namespace {
struct ReadyGrads final : GradientReadyListener {
  std::vector<std::pair<const Node*, std::vector<double>>> told;
  void gradient_ready(const Var& leaf, Tensor& grad) override { told.emplace_back(leaf.node(), grad.to_vector()); }
};
}  // namespace

TEST_CASE("a gathered weight gradient is reported ready only once the end of the pass has added it") {
  RestoreBatching restore;
  set_weight_grad_batching(WeightGradBatching::always);
  Var w(Tensor::normal({6, 4}, 0, 0.5, 611, DType::f64), true);
  Var v(Tensor::normal({6, 6}, 0, 0.5, 613, DType::f64), true);
  Var x(Tensor::normal({3, 4}, 0, 1, 612, DType::f64), false);
  // w's only uses are the earliest ops; v's gradient is gathered too.
  Var h = tanh(linear(x, w));
  Var loss = sum(mul(linear(h, v), h));
  ReadyGrads log;
  {
    ListenGradientReady listen(log);
    loss.backward();
  }
  REQUIRE(log.told.size() == 2);
  for (const auto& [node, grad] : log.told) {
    const Var& leaf = node == w.node() ? w : v;
    CHECK(grad == leaf.grad().to_vector());
  }
}
