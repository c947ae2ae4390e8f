// Parameter groups: per-group lr and weight decay, the group API, set_lr,
// errors, and weight_decay_groups over a model's named parameters.
#include "problem.hpp"

using namespace tg;
using test::check_values;
using test::param;
using test::set_grad;

TEST_CASE("each group steps with its own lr and weight decay; unset values take the options'") {
  Var w = param({1.0, 2.0});
  Var b = param({1.0});
  Var c = param({1.0});
  Sgd sgd(
      std::vector<ParamGroup>{
          {.params = {w}}, {.params = {b}, .lr = 0.5, .weight_decay = 0.0}, {.params = {c}, .lr = 0.2}},
      {.lr = 0.1, .weight_decay = 0.5});
  CHECK(sgd.group_count() == 3);
  CHECK(sgd.parameters().size() == 3);
  CHECK(sgd.group_lr(0) == 0.1);
  CHECK(sgd.group_lr(1) == 0.5);
  CHECK(sgd.group_weight_decay(0) == 0.5);
  CHECK(sgd.group_weight_decay(1) == 0.0);
  CHECK(sgd.group_weight_decay(2) == 0.5);
  CHECK(sgd.group_of(b) == 1);
  CHECK(sgd.group_of(2) == 2);
  set_grad(w, {1.0, 1.0});
  set_grad(b, {1.0});
  set_grad(c, {1.0});
  sgd.step();
  check_values(w.value(), {1.0 - 0.1 * (1.0 + 0.5), 2.0 - 0.1 * (1.0 + 1.0)}, 1e-15);
  check_values(b.value(), {1.0 - 0.5}, 1e-15);
  check_values(c.value(), {1.0 - 0.2 * 1.5}, 1e-15);
  CHECK(sgd.options().weight_decay == 0.5);
}

TEST_CASE("set_lr sets every group, lr() reads group 0, set_group_lr one group") {
  Var a = param({1.0});
  Var b = param({1.0});
  Adam adam(std::vector<ParamGroup>{{.params = {a}}, {.params = {b}, .lr = 0.5}}, {.lr = 0.1});
  CHECK(adam.lr() == 0.1);
  adam.set_group_lr(1, 0.25);
  CHECK(adam.group_lr(1) == 0.25);
  CHECK(adam.lr() == 0.1);
  adam.set_lr(0.01);
  CHECK(adam.group_lr(0) == 0.01);
  CHECK(adam.group_lr(1) == 0.01);
  CHECK(adam.options().lr == 0.01);
  CHECK_THROWS_WITH_AS(adam.set_group_lr(1, -1), "Adam: invalid lr = -1 in group 1; it must be >= 0", Error);
  CHECK_THROWS_WITH_AS(adam.set_group_lr(2, 0.1), "Adam: group 2 is out of range for 2 groups", IndexError);
  CHECK_THROWS_AS(adam.group_lr(2), IndexError);
  CHECK_THROWS_AS(adam.group_of(2), IndexError);
  // A plain parameter list is one group.
  Sgd sgd({a, b});
  CHECK(sgd.group_count() == 1);
  CHECK(sgd.group_of(b) == 0);
}

TEST_CASE("group errors name the group, and a parameter in two groups is refused") {
  Var a = param({1.0});
  Var b = param({1.0});
  CHECK_THROWS_WITH_AS(AdamW(std::vector<ParamGroup>{{.params = {a}}, {.params = {b}, .lr = -0.1}}),
                       "AdamW: invalid lr = -0.1 in group 1; it must be >= 0", Error);
  CHECK_THROWS_WITH_AS(Rmsprop(std::vector<ParamGroup>{{.params = {a}, .weight_decay = -1.0}}),
                       "Rmsprop: invalid weight_decay = -1 in group 0; it must be >= 0", Error);
  CHECK_THROWS_WITH_AS(Adagrad(std::vector<ParamGroup>{{.params = {a}}, {.params = {a}}}),
                       doctest::Contains("parameter 1 ('p', shape [1], float64) appears more than once"), Error);
  CHECK_THROWS_WITH_AS(Adadelta(std::vector<ParamGroup>{{.params = {}}, {.params = {}}}),
                       "Adadelta: got an empty parameter list", Error);
  CHECK_THROWS_WITH_AS(Sgd(std::vector<ParamGroup>{}), "Sgd: got an empty parameter list", Error);
  // An empty group beside a non-empty one is fine (a model without biases).
  Sgd sgd(std::vector<ParamGroup>{{.params = {}}, {.params = {a}}});
  CHECK(sgd.group_of(a) == 1);
}

namespace {

struct Block : Module {
  Linear fc;
  LayerNorm norm;
  Block()
      : fc({.in_features = 3, .out_features = 4, .dtype = DType::f64}),
        norm({.normalized_shape = 4, .dtype = DType::f64}) {
    register_module("fc", fc);
    register_module("norm", norm);
  }
};

}  // namespace

TEST_CASE("weight_decay_groups: no decay for biases and LayerNorm weights") {
  Block block;
  std::vector<ParamGroup> groups = weight_decay_groups(block, 0.01);
  REQUIRE(groups.size() == 2);
  REQUIRE(groups[0].params.size() == 1);
  CHECK(groups[0].params[0].node() == block.fc.weight.node());
  CHECK(groups[0].weight_decay == 0.01);
  CHECK(groups[1].params.size() == 3);  // fc.bias, norm.weight, norm.bias
  CHECK(groups[1].weight_decay == 0.0);
  CHECK_FALSE(groups[0].lr.has_value());
  AdamW adamw(groups, {.lr = 1e-3});
  CHECK(adamw.group_weight_decay(adamw.group_of(block.norm.weight)) == 0.0);
  CHECK(adamw.group_weight_decay(adamw.group_of(block.fc.weight)) == 0.01);
  CHECK(is_no_decay({"encoder.proj.bias", Var::parameter(Tensor::zeros({2, 2}), "b")}));
  CHECK_FALSE(is_no_decay({"encoder.proj.weight", Var::parameter(Tensor::zeros({2, 2}), "w")}));
  CHECK_THROWS_WITH_AS(weight_decay_groups(block, -1),
                       "weight_decay_groups: invalid weight_decay = -1; it must be >= 0", Error);
}
