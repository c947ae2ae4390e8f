// Magnitude pruning (models/prune.hpp): which entries go, per weight and across weights, masks
// that only grow and that Adam's updates respect, the gradual schedule, the masks' state.
#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include "tapegrad.hpp"

using namespace tg;

namespace {

Var weight(const std::vector<double>& values, const Shape& shape, const std::string& name) {
  return Var::parameter(Tensor::from_vector(values, shape, DType::f64), name);
}

std::vector<double> values(const Var& v) { return v.value().to_vector(); }

}  // namespace

TEST_CASE("prune_to per layer: each weight loses its own smallest magnitudes, ties by position") {
  Var a = weight({0.5, -0.1, 0.3, -0.2}, {2, 2}, "a");
  Var b = weight({10, -20, 30, 0.01, 0.02, -40}, {2, 3}, "b");
  PruningMasks masks({{"a", a}, {"b", b}});
  masks.prune_to(0.5, PruneScope::per_layer);
  CHECK(values(a) == std::vector<double>{0.5, 0, 0.3, 0});
  CHECK(values(b) == std::vector<double>{0, -20, 30, 0, 0, -40});
  CHECK(masks.sparsity("a") == 0.5);
  CHECK(masks.sparsity() == 0.5);
  Var ties = weight({1, 1, 1, 1}, {1, 4}, "ties");
  PruningMasks tied({{"ties", ties}});
  tied.prune_to(0.5, PruneScope::per_layer);
  CHECK(values(ties) == std::vector<double>{0, 0, 1, 1});
}

TEST_CASE("prune_to globally: the smallest magnitudes of all weights together") {
  Var a = weight({0.5, -0.1, 0.3, -0.2}, {2, 2}, "a");
  Var b = weight({10, -20, 30, 0.01, 0.02, -40}, {2, 3}, "b");
  PruningMasks masks({{"a", a}, {"b", b}});
  masks.prune_to(0.5, PruneScope::global);
  // The 5 smallest of all 10: b's 0.01 and 0.02, a's 0.1, 0.2 and 0.3.
  CHECK(values(a) == std::vector<double>{0.5, 0, 0, 0});
  CHECK(values(b) == std::vector<double>{10, -20, 30, 0, 0, -40});
  CHECK(masks.sparsity() == 0.5);
  CHECK(masks.sparsity("a") == 0.75);
  CHECK(masks.sparsity("b") == doctest::Approx(2.0 / 6));
}

TEST_CASE("masks only grow, and apply() keeps pruned weights at zero through Adam's updates") {
  Generator gen(3);
  Linear layer({.in_features = 6, .out_features = 5}, gen);
  PruningMasks masks(quantizable_weights(layer, false));
  REQUIRE(masks.size() == 1);
  masks.prune_to(0.4, PruneScope::per_layer);
  const std::vector<double> pruned_once = values(layer.weight);
  std::vector<bool> zero;
  for (double v : pruned_once) zero.push_back(v == 0.0);
  CHECK(std::count(zero.begin(), zero.end(), true) == 12);
  // A lower sparsity prunes nothing more and revives nothing.
  masks.prune_to(0.2, PruneScope::per_layer);
  CHECK(values(layer.weight) == pruned_once);

  Adam adam(layer.parameters(), {.lr = 0.1});
  Var x(Tensor::normal({4, 6}, 0.0, 1.0, 9, DType::f32));
  for (int step = 0; step < 5; ++step) {
    layer.zero_grad();
    sum(mul(layer.forward(x), layer.forward(x))).backward();
    adam.step();
    masks.apply();
    const std::vector<double> now = values(layer.weight);
    for (std::size_t i = 0; i < now.size(); ++i) {
      if (zero[i]) REQUIRE(now[i] == 0.0);
    }
    CHECK(now != pruned_once);  // the others learn
  }
  // Pruning further keeps the earlier pruned entries pruned.
  masks.prune_to(0.8, PruneScope::per_layer);
  const std::vector<double> further = values(layer.weight);
  for (std::size_t i = 0; i < further.size(); ++i) {
    if (zero[i]) CHECK(further[i] == 0.0);
  }
  CHECK(masks.sparsity() == doctest::Approx(24.0 / 30));
}

TEST_CASE("pruning masks round-trip through their state; bad states are refused by name") {
  Var a = weight({0.5, -0.1, 0.3, -0.2}, {2, 2}, "a");
  PruningMasks masks({{"a", a}});
  masks.prune_to(0.25, PruneScope::per_layer);
  const auto state = masks.state_dict();
  CHECK(state.at("a").to_vector() == std::vector<double>{1, 0, 1, 1});
  Var b = weight({1, 2, 3, 4}, {2, 2}, "a");
  PruningMasks restored({{"a", b}});
  restored.load_state_dict(state);
  restored.apply();
  CHECK(values(b) == std::vector<double>{1, 0, 3, 4});
  CHECK(restored.sparsity() == 0.25);
  CHECK_THROWS_WITH_AS(restored.load_state_dict({}), doctest::Contains("no mask for 'a'"), Error);
  CHECK_THROWS_WITH_AS(restored.load_state_dict({{"a", Tensor::ones({4})}}),
                       doctest::Contains("the mask of 'a' is [4], the weight [2, 2]"), Error);
  CHECK_THROWS_WITH_AS(restored.load_state_dict({{"a", Tensor::from_vector({1, 0.5, 1, 1}, {2, 2})}}),
                       doctest::Contains("holds 0.5 at 1; masks hold 0 and 1"), Error);
  CHECK_THROWS_WITH_AS(masks.prune_to(1.5, PruneScope::global), doctest::Contains("sparsity 1.5 is outside [0, 1]"),
                       Error);
  // A model pruned before: its zeros become its masks.
  Var c = weight({0, 2, 0, 4}, {2, 2}, "c");
  PruningMasks from_zeros({{"c", c}});
  from_zeros.prune_zeros();
  CHECK(from_zeros.sparsity() == 0.5);
}

TEST_CASE("gradual_sparsity follows Zhu and Gupta's cubic schedule") {
  CHECK(gradual_sparsity(0, 100, 500, 0.8) == 0.0);
  CHECK(gradual_sparsity(100, 100, 500, 0.8) == 0.0);
  CHECK(gradual_sparsity(300, 100, 500, 0.8) == doctest::Approx(0.8 - 0.8 * 0.125));
  CHECK(gradual_sparsity(500, 100, 500, 0.8) == 0.8);
  CHECK(gradual_sparsity(900, 100, 500, 0.8) == 0.8);
  CHECK(gradual_sparsity(200, 100, 500, 0.9, 0.5) == doctest::Approx(0.9 - 0.4 * 0.421875));
  // Fast at first: the first quarter of the steps does more than half of the pruning.
  CHECK(gradual_sparsity(200, 100, 500, 0.8) > 0.4);
}
