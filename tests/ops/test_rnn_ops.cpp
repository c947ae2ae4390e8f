#include "check.hpp"
#include "ops/rnn.hpp"

#include <cmath>

using namespace tg;
using tg::test::expect_gradcheck;
using tg::test::randn;

TEST_CASE("fused LSTM and GRU cell ops pass gradcheck") {
  for (Shape gates4 : {Shape{3, 8}, Shape{1, 4}, Shape{2, 20}}) {
    const std::size_t b = gates4[0], h = gates4[1] / 4;
    CAPTURE(shape_str(gates4));
    expect_gradcheck([](const std::vector<Var>& v) { return lstm_cell_state(v[0], v[1]); },
                     {randn(gates4, 1), randn({b, h}, 2)});
    expect_gradcheck([](const std::vector<Var>& v) { return lstm_cell_output(v[0], v[1]); },
                     {randn(gates4, 3), randn({b, h}, 4)});
    // The two together, as an LSTM step uses them.
    expect_gradcheck(
        [](const std::vector<Var>& v) {
          Var c = lstm_cell_state(v[0], v[1]);
          return lstm_cell_output(v[0], c);
        },
        {randn(gates4, 5), randn({b, h}, 6)});
    const Shape gates3{b, 3 * h};
    expect_gradcheck([](const std::vector<Var>& v) { return gru_cell(v[0], v[1], v[2]); },
                     {randn(gates3, 7), randn(gates3, 8), randn({b, h}, 9)});
  }
}

TEST_CASE("fused cell ops: values match the composed formulas; shapes are checked") {
  Tensor g = randn({2, 8}, 1), c = randn({2, 2}, 2);
  std::vector<double> gv = g.to_vector(), cv = c.to_vector();
  auto sig = [](double x) { return 1 / (1 + std::exp(-x)); };
  Var c1 = lstm_cell_state(Var(g), Var(c));
  Var h1 = lstm_cell_output(Var(g), c1);
  for (std::size_t b = 0; b < 2; ++b) {
    for (std::size_t j = 0; j < 2; ++j) {
      const double* row = gv.data() + b * 8;
      double expect_c = sig(row[2 + j]) * cv[b * 2 + j] + sig(row[j]) * std::tanh(row[4 + j]);
      CHECK(c1.value().at(b * 2 + j) == doctest::Approx(expect_c).epsilon(1e-14));
      CHECK(h1.value().at(b * 2 + j) == doctest::Approx(sig(row[6 + j]) * std::tanh(expect_c)).epsilon(1e-14));
    }
  }
  CHECK_THROWS_AS(lstm_cell_state(Var(randn({2, 7}, 1)), Var(randn({2, 2}, 2))), ShapeError);
  CHECK_THROWS_AS(gru_cell(Var(randn({2, 6}, 1)), Var(randn({2, 3}, 1)), Var(randn({2, 2}, 2))), ShapeError);
  CHECK_THROWS_WITH_AS(lstm_cell_output(Var(randn({2, 8}, 1)), Var(randn({3, 2}, 2))),
                       doctest::Contains("lstm_cell_output"), ShapeError);
}
