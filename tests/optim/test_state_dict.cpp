// Optimizer::state_dict / load_state_dict: resuming is bitwise for every
// optimizer, the keys are as documented, and a bad state dict is refused whole.
#include <functional>
#include <string>
#include <tuple>

#include "problem.hpp"

using namespace tg;
using test::param;
using test::set_grad;

namespace {

using Factory = std::function<std::unique_ptr<Optimizer>(std::vector<ParamGroup>)>;

template <class O, class Options>
std::pair<std::string, Factory> config(std::string name, Options options) {
  return {std::move(name),
          [options](std::vector<ParamGroup> groups) { return std::make_unique<O>(std::move(groups), options); }};
}

std::vector<std::pair<std::string, Factory>> configs() {
  return {
      config<Sgd>("sgd", SgdOptions{.lr = 0.1}),
      config<Sgd>("sgd nesterov", SgdOptions{.lr = 0.1, .momentum = 0.9, .nesterov = true}),
      config<Adam>("adam amsgrad", AdamOptions{.lr = 0.1, .amsgrad = true}),
      config<Adam>("adam decoupled", AdamOptions{.lr = 0.1, .weight_decay = 0.1, .decoupled_weight_decay = true}),
      config<AdamW>("adamw", AdamWOptions{.lr = 0.1}),
      config<AdamW>("adamw amsgrad", AdamWOptions{.lr = 0.1, .amsgrad = true}),
      config<Rmsprop>("rmsprop centered momentum", RmspropOptions{.momentum = 0.9, .centered = true}),
      config<Rmsprop>("rmsprop", RmspropOptions{.weight_decay = 0.1}),
      config<Adagrad>("adagrad", AdagradOptions{.lr = 0.1, .lr_decay = 0.01, .initial_accumulator_value = 0.1}),
      config<Adadelta>("adadelta", AdadeltaOptions{.weight_decay = 0.01}),
  };
}

// Three parameters in two groups (group 1 has its own lr and no decay).
struct Problem {
  std::vector<Var> params;
  explicit Problem(DType dtype) {
    params.push_back(Var::parameter(Tensor::normal({3, 4}, 0, 1, 11, dtype), "w"));
    params.push_back(Var::parameter(Tensor::normal({4}, 0, 1, 12, dtype), "b"));
    params.push_back(Var::parameter(Tensor::normal({2}, 0, 1, 13, dtype), "c"));
  }
  /// Copies of the values as new leaves.
  Problem(const Problem& other) {
    for (const Var& p : other.params) params.push_back(Var::parameter(p.value(), p.name()));
  }
  std::vector<ParamGroup> groups() const {
    return {{.params = {params[0], params[2]}, .weight_decay = 0.05},
            {.params = {params[1]}, .lr = 0.02, .weight_decay = 0.0}};
  }
  // Step s's gradients; parameter 2 has none at steps 0 and 3, so its state starts late.
  void set_grads(int s) {
    for (std::size_t i = 0; i < params.size(); ++i) {
      if (i == 2 && (s == 0 || s == 3)) {
        params[i].zero_grad();
      } else {
        params[i].grad() = Tensor::normal(params[i].shape(), 0, 1, 100 + 10 * s + i, params[i].dtype());
      }
    }
  }
};

void check_bitwise(const Problem& got, const Problem& want) {
  for (std::size_t i = 0; i < want.params.size(); ++i) {
    CAPTURE(i);
    CHECK(got.params[i].value().to_vector() == want.params[i].value().to_vector());
  }
}

}  // namespace

TEST_CASE("3 steps, save, load into a fresh optimizer, 2 steps: bitwise equal to 5 steps, for every optimizer") {
  for (DType dtype : {DType::f32, DType::f64}) {
    for (const auto& entry : configs()) {
      const auto& name = std::get<0>(entry);
      const auto& make = std::get<1>(entry);
      CAPTURE(name);
      CAPTURE(dtype_name(dtype));
      Problem resumed(dtype);
      std::unique_ptr<Optimizer> b = make(resumed.groups());
      for (int s = 0; s < 3; ++s) {
        resumed.set_grads(s);
        b->step();
      }
      b->set_group_lr(1, 0.015);  // as a schedule would; the lr travels with the state
      const std::map<std::string, Tensor> saved = b->state_dict();
      Problem fresh(resumed);
      std::unique_ptr<Optimizer> c = make(fresh.groups());
      c->load_state_dict(saved);
      CHECK(c->group_lr(1) == 0.015);
      CHECK(c->state_dict().size() == saved.size());
      for (int s = 3; s < 5; ++s) {
        fresh.set_grads(s);
        c->step();
      }
      // Five uninterrupted steps, with the same lr change before step 3.
      Problem again(dtype);
      std::unique_ptr<Optimizer> d = make(again.groups());
      for (int s = 0; s < 5; ++s) {
        if (s == 3) d->set_group_lr(1, 0.015);
        again.set_grads(s);
        d->step();
      }
      check_bitwise(fresh, again);
      CHECK(c->state_dict().size() == d->state_dict().size());
    }
  }
}

TEST_CASE("state_dict keys: group lrs, per-parameter buffers and float64 step counts") {
  Var a = param({1.0, 2.0});
  Var b = param({1.0});
  Adam adam(std::vector<ParamGroup>{{.params = {a}}, {.params = {b}, .lr = 0.5}}, {.lr = 0.1, .amsgrad = true});
  std::map<std::string, Tensor> state = adam.state_dict();
  CHECK(state.size() == 2);  // no step yet: only the lrs
  CHECK(state.at("group.1.lr").item() == 0.5);
  set_grad(a, {1.0, 1.0});
  adam.step();
  adam.step();
  state = adam.state_dict();
  std::vector<std::string> keys;
  for (const auto& [key, t] : state) keys.push_back(key);
  CHECK(keys == std::vector<std::string>{"group.0.lr", "group.1.lr", "param.0.exp_avg", "param.0.exp_avg_sq",
                                         "param.0.max_exp_avg_sq", "param.0.step"});
  CHECK(state.at("param.0.step").dtype() == DType::f64);
  CHECK(state.at("param.0.step").dim() == 0);
  CHECK(state.at("param.0.step").item() == 2.0);
  CHECK(state.at("param.0.exp_avg").shape() == Shape{2});

  Sgd plain({a});
  CHECK(plain.state_dict().size() == 1);  // momentum 0 keeps no state
}

TEST_CASE("load_state_dict refuses a state dict that does not fit, and changes nothing") {
  Var a = param({1.0, 2.0});
  Var b = param({1.0});
  Adam adam({a, b}, {.lr = 0.1});
  set_grad(a, {1.0, 1.0});
  set_grad(b, {1.0});
  adam.step();
  const std::map<std::string, Tensor> good = adam.state_dict();

  Var c = param({0.0, 0.0});
  Var d = param({0.0});
  Adam other({c, d}, {.lr = 0.3});
  auto refused = [&](std::map<std::string, Tensor> state, const std::string& message) {
    CAPTURE(message);
    CHECK_THROWS_WITH_AS(other.load_state_dict(state), doctest::Contains(message.c_str()), Error);
    CHECK(other.lr() == 0.3);
    CHECK(other.state(0).step == 0);
    CHECK_FALSE(other.state(0).exp_avg.defined());
  };
  std::map<std::string, Tensor> s = good;
  s.erase("param.1.exp_avg_sq");
  refused(s, "Adam: load_state_dict: missing key 'param.1.exp_avg_sq'");
  s = good;
  s.erase("group.0.lr");
  refused(s, "missing key 'group.0.lr'");
  s = good;
  s["param.0.momentum_buffer"] = Tensor::zeros({2}, DType::f64);
  refused(s, "unexpected key 'param.0.momentum_buffer' (Adam keeps no 'momentum_buffer' with these options)");
  s = good;
  s["param.2.step"] = Tensor::scalar(1, DType::f64);
  refused(s, "unexpected key 'param.2.step' (the optimizer has 2 parameters)");
  s = good;
  s["group.1.lr"] = Tensor::scalar(0.1, DType::f64);
  refused(s, "unexpected key 'group.1.lr' (the optimizer has 1 groups)");
  s = good;
  s["lr"] = Tensor::scalar(0.1, DType::f64);
  refused(s, "unexpected key 'lr'");
  s = good;
  s["param.0.exp_avg"] = Tensor::zeros({3}, DType::f64);
  refused(s, "'param.0.exp_avg' has shape [3] and dtype float64; parameter 0 ('p', shape [2], float64) needs its own");
  s = good;
  s["param.0.exp_avg"] = Tensor::zeros({2}, DType::f32);
  refused(s, "has shape [2] and dtype float32");
  s = good;
  s["param.0.step"] = Tensor::scalar(1.5, DType::f64);
  refused(s, "'param.0.step' = 1.5 is not a step count");
  s = good;
  s["param.0.step"] = Tensor::from_vector({1.0}, {1}, DType::f64);
  refused(s, "'param.0.step' has shape [1] and dtype float64; it must be a float64 scalar (shape [])");
  s = good;
  s["group.0.lr"] = Tensor::scalar(-1, DType::f64);
  refused(s, "'group.0.lr' = -1 is not a valid lr");

  // A state dict of an optimizer with more parameters names each extra one.
  Adam one({c}, {.lr = 0.3});
  CHECK_THROWS_WITH_AS(one.load_state_dict(good),
                       doctest::Contains("unexpected key 'param.1.exp_avg' (the optimizer has 1 parameters)"), Error);
  // Another optimizer's state: its buffers are unexpected and Adam's missing.
  Rmsprop rms({c, d});
  CHECK_THROWS_WITH_AS(rms.load_state_dict(good),
                       doctest::Contains("unexpected key 'param.0.exp_avg' (Rmsprop keeps no"), Error);

  other.load_state_dict(good);
  CHECK(other.lr() == 0.1);
  CHECK(other.state(1).step == 1);
  // Loading a state without a parameter's keys makes its state fresh.
  s = good;
  for (const char* key : {"param.1.step", "param.1.exp_avg", "param.1.exp_avg_sq"}) s.erase(key);
  other.load_state_dict(s);
  CHECK(other.state(1).step == 0);
  CHECK_FALSE(other.state(1).exp_avg.defined());
  CHECK(other.state(0).step == 1);
}
