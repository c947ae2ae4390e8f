#include "check.hpp"
#include "tapegrad/ops/attention.hpp"
#include "tapegrad/ops/elementwise.hpp"
#include "tapegrad/ops/rnn.hpp"

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

TEST_CASE("additive_scores passes gradcheck, alone and with keys read at two steps") {
  struct Case {
    std::size_t b, s, a;
  };
  for (Case k : {Case{2, 3, 4}, Case{1, 1, 1}, Case{3, 1, 2}, Case{1, 4, 1}}) {
    CAPTURE(k.b);
    CAPTURE(k.s);
    CAPTURE(k.a);
    expect_gradcheck([](const std::vector<Var>& v) { return additive_scores(v[0], v[1], v[2]); },
                     {randn({k.b, k.s, k.a}, 1), randn({k.b, k.a}, 2), randn({k.a}, 3)});
    // Two decoder steps over one set of keys: the second step's key gradient adds into the first's.
    expect_gradcheck(
        [](const std::vector<Var>& v) { return additive_scores(v[0], v[1], v[3]) * additive_scores(v[0], v[2], v[3]); },
        {randn({k.b, k.s, k.a}, 4), randn({k.b, k.a}, 5), randn({k.b, k.a}, 6), randn({k.a}, 7)});
  }
}

TEST_CASE("additive_scores: values match v . tanh(keys + query); bad shapes and dtypes are named") {
  const Tensor keys = randn({2, 3, 4}, 1), query = randn({2, 4}, 2), v = randn({4}, 3);
  const Var y = additive_scores(Var(keys), Var(query), Var(v));
  REQUIRE(y.shape() == Shape{2, 3});
  const std::vector<double> kv = keys.to_vector(), qv = query.to_vector(), vv = v.to_vector();
  for (std::size_t b = 0; b < 2; ++b) {
    for (std::size_t s = 0; s < 3; ++s) {
      double expect = 0;
      for (std::size_t a = 0; a < 4; ++a) expect += vv[a] * std::tanh(kv[(b * 3 + s) * 4 + a] + qv[b * 4 + a]);
      CHECK(y.value().at(b * 3 + s) == doctest::Approx(expect).epsilon(1e-14));
    }
  }
  // float: the vectorised tanh stays within 2e-7 of the exact one per element.
  const Var yf = additive_scores(Var(keys.to(DType::f32)), Var(query.to(DType::f32)), Var(v.to(DType::f32)));
  for (std::size_t i = 0; i < 6; ++i) CHECK(yf.value().at(i) == doctest::Approx(y.value().at(i)).epsilon(1e-5));
  CHECK_THROWS_WITH_AS(additive_scores(Var(keys), Var(randn({2, 5}, 2)), Var(v)),
                       doctest::Contains("'additive_scores': needs keys [B, S, A], query [B, A] and v [A], got keys "
                                         "[2, 3, 4], query [2, 5] and v [4]"),
                       ShapeError);
  CHECK_THROWS_AS(additive_scores(Var(keys), Var(query), Var(randn({3}, 3))), ShapeError);
  CHECK_THROWS_AS(additive_scores(Var(randn({2, 4}, 1)), Var(query), Var(v)), ShapeError);
  CHECK_THROWS_AS(additive_scores(Var(keys), Var(query.to(DType::f32)), Var(v)), DTypeError);
}
