// Gradient accumulation: k micro-batches, each loss divided by k and
// backpropagated, then one step, equal one step on the whole batch.
#include "problem.hpp"

using namespace tg;

TEST_CASE("k accumulated micro-batches of loss / k step like one batch k times larger (float64, 1e-12)") {
  const std::size_t k = 4, micro = 3, in = 5, out = 2;
  const Tensor inputs = Tensor::normal({k * micro, in}, 0, 1, 31, DType::f64);
  const Tensor targets = Tensor::normal({k * micro, out}, 0, 1, 32, DType::f64);
  Generator gen_a(7), gen_b(7);
  Linear whole({.in_features = in, .out_features = out, .dtype = DType::f64}, gen_a);
  Linear accumulated({.in_features = in, .out_features = out, .dtype = DType::f64}, gen_b);
  AdamW opt_whole(whole.parameters(), {.lr = 0.05});
  AdamW opt_accumulated(accumulated.parameters(), {.lr = 0.05});
  auto mse = [](const Linear& m, const Var& x, const Var& y) {
    Var d = m.forward(x) - y;
    return mean(d * d);
  };
  auto rows = [](const Tensor& t, std::size_t begin, std::size_t count) {
    std::vector<double> values = t.to_vector();
    const std::size_t width = t.shape()[1];
    return Tensor::from_vector(
        std::vector<double>(values.begin() + begin * width, values.begin() + (begin + count) * width), {count, width},
        DType::f64);
  };
  for (int step = 0; step < 3; ++step) {
    current_tape().reset();
    opt_whole.zero_grad();
    mse(whole, Var(inputs), Var(targets)).backward();
    opt_whole.step();

    opt_accumulated.zero_grad();
    for (std::size_t b = 0; b < k; ++b) {
      current_tape().reset();
      Var loss = mse(accumulated, Var(rows(inputs, b * micro, micro)), Var(rows(targets, b * micro, micro))) *
                 (1.0 / static_cast<double>(k));
      loss.backward();
    }
    opt_accumulated.step();
    for (std::size_t i = 0; i < 2; ++i) {
      CAPTURE(step);
      CAPTURE(i);
      test::check_values(accumulated.parameters()[i].value(), whole.parameters()[i].value().to_vector(), 1e-12);
    }
  }
}
