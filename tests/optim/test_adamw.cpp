// AdamW: decoupled decay in closed form, option errors, loss goes down, the same
// steps as Adam with decoupled_weight_decay, and its exact float32 arithmetic.
#include <cmath>
#include <map>
#include <string>
#include <tuple>

#include "problem.hpp"

using namespace tg;
using test::check_values;
using test::param;
using test::set_grad;

TEST_CASE("AdamW's first step decays p by lr * weight_decay, then takes Adam's step") {
  Var p = param({2.0, -1.0});
  AdamW adamw({p}, {.lr = 0.1, .weight_decay = 0.5});
  set_grad(p, {0.5, 0.0});
  adamw.step();
  // The decay does not enter the moments: g = 0 leaves only the decay.
  check_values(p.value(), {2.0 * 0.95 - 0.1 * 0.5 / (0.5 + 1e-8), -1.0 * 0.95}, 1e-15);
  check_values(adamw.state(0).exp_avg, {0.05, 0.0}, 1e-15);
  CHECK(adamw.state(p).step == 1);
  CHECK(adamw.options().weight_decay == 0.5);
  CHECK(AdamWOptions{}.weight_decay == 1e-2);
}

TEST_CASE("AdamW options are validated with the option's name and value") {
  Var p = param({1.0});
  CHECK_THROWS_WITH_AS(AdamW({p}, {.lr = -1}), "AdamW: invalid lr = -1; it must be >= 0", Error);
  CHECK_THROWS_WITH_AS(AdamW({p}, {.beta1 = 1.0}), "AdamW: invalid beta1 = 1; it must be in [0, 1)", Error);
  CHECK_THROWS_WITH_AS(AdamW({p}, {.beta2 = -0.1}), "AdamW: invalid beta2 = -0.1; it must be in [0, 1)", Error);
  CHECK_THROWS_WITH_AS(AdamW({p}, {.eps = -1}), "AdamW: invalid eps = -1; it must be >= 0", Error);
  CHECK_THROWS_WITH_AS(AdamW({p}, {.weight_decay = -1}), "AdamW: invalid weight_decay = -1; it must be >= 0", Error);
}

TEST_CASE("AdamW lowers the loss") {
  for (const AdamWOptions& o : {AdamWOptions{.lr = 0.1}, AdamWOptions{.lr = 0.1, .amsgrad = true}}) {
    test::check_loss_goes_down([&](std::vector<Var> params) { return std::make_unique<AdamW>(std::move(params), o); });
  }
}

TEST_CASE("AdamW is Adam with decoupled_weight_decay, bit for bit, and keeps Adam's state names") {
  for (DType dtype : {DType::f32, DType::f64}) {
    for (bool amsgrad : {false, true}) {
      CAPTURE(dtype_name(dtype));
      CAPTURE(amsgrad);
      auto make_params = [&] {
        return std::vector<Var>{Var::parameter(Tensor::normal({7, 5}, 0, 1, 1, dtype), "w"),
                                Var::parameter(Tensor::normal({5}, 0, 1, 2, dtype), "b")};
      };
      std::vector<Var> p = make_params(), q = make_params();
      const AdamWOptions wo{.lr = 0.05, .beta1 = 0.8, .weight_decay = 0.1, .amsgrad = amsgrad};
      AdamW adamw(std::vector<ParamGroup>{{.params = {p[0]}}, {.params = {p[1]}, .weight_decay = 0.0}}, wo);
      Adam adam(std::vector<ParamGroup>{{.params = {q[0]}}, {.params = {q[1]}, .weight_decay = 0.0}},
                {.lr = 0.05, .beta1 = 0.8, .weight_decay = 0.1, .amsgrad = amsgrad, .decoupled_weight_decay = true});
      for (int s = 0; s < 6; ++s) {
        for (std::size_t i = 0; i < p.size(); ++i) {
          p[i].grad() = Tensor::normal(p[i].shape(), 0, 1, 10 + 2 * s + i, dtype);
          q[i].grad() = p[i].grad();
        }
        adamw.step();
        adam.step();
      }
      for (std::size_t i = 0; i < p.size(); ++i) CHECK(p[i].value().to_vector() == q[i].value().to_vector());
      const std::map<std::string, Tensor> w_state = adamw.state_dict(), a_state = adam.state_dict();
      REQUIRE(w_state.size() == a_state.size());
      for (const auto& entry : a_state) {
        const auto& key = std::get<0>(entry);
        const auto& t = std::get<1>(entry);
        CAPTURE(key);
        REQUIRE(w_state.contains(key));
        CHECK(w_state.at(key).to_vector() == t.to_vector());
      }
    }
  }
  Var p = param({1.0});
  AdamW adamw({p}, {.lr = 0.1, .weight_decay = 0.5, .amsgrad = true});
  const Adam& as_adam = adamw;
  CHECK(as_adam.options().decoupled_weight_decay);
  CHECK(as_adam.options().weight_decay == 0.5);
  CHECK(adamw.options().amsgrad);
  CHECK(std::string(adamw.name()) == "AdamW");
  CHECK_FALSE(AdamOptions{}.decoupled_weight_decay);
}

TEST_CASE("AdamW in float32 is PyTorch's unfused single-tensor update, exactly, on every CPU") {
  // Adam's float32 loop (L2 or no decay) has AVX2 and AVX-512 copies whose fused
  // multiply-adds round differently; AdamW's has none, so its float32
  // trajectories (and the checkpoints that hold them) do not depend on the CPU.
  const std::size_t n = 301;  // vector lanes and a remainder
  std::vector<double> initial;
  for (std::size_t i = 0; i < n; ++i) initial.push_back(std::cos(0.7 * static_cast<double>(i)) * 2.0);
  Var p = param(initial, DType::f32);
  const double lr = 0.01, weight_decay = 0.3, beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
  AdamW adamw({p}, {.lr = lr, .weight_decay = weight_decay});
  std::vector<float> want(initial.begin(), initial.end()), m(n, 0.0f), v(n, 0.0f);
  for (int t = 1; t <= 4; ++t) {
    CAPTURE(t);
    std::vector<double> g;
    for (std::size_t i = 0; i < n; ++i) g.push_back(std::sin(3.0 * t + static_cast<double>(i)));
    set_grad(p, g);
    adamw.step();
    const auto keep = static_cast<float>(1 - lr * weight_decay);
    const auto neg_step_size = static_cast<float>(-(lr / (1 - std::pow(beta1, t))));
    const auto correction2 = static_cast<float>(std::sqrt(1 - std::pow(beta2, t)));
    for (std::size_t i = 0; i < n; ++i) {
      const auto gi = static_cast<float>(g[i]);
      want[i] = want[i] * keep;
      m[i] = m[i] * static_cast<float>(beta1) + static_cast<float>(1 - beta1) * gi;
      v[i] = v[i] * static_cast<float>(beta2) + static_cast<float>(1 - beta2) * gi * gi;
      const float denom = std::sqrt(v[i]) / correction2 + static_cast<float>(eps);
      want[i] = want[i] + neg_step_size * (m[i] / denom);
    }
    std::size_t differing = 0;
    for (std::size_t i = 0; i < n; ++i) {
      const bool same = static_cast<float>(p.value().at(i)) == want[i] &&
                        static_cast<float>(adamw.state(0).exp_avg.at(i)) == m[i] &&
                        static_cast<float>(adamw.state(0).exp_avg_sq.at(i)) == v[i];
      if (!same) ++differing;
    }
    CHECK(differing == 0);
  }
}
