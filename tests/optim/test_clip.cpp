// clip_grad_norm and clip_grad_value against torch.nn.utils (tests/fixtures/optim.json),
// non-finite norms, skipped gradients and option errors.
#include <limits>

#include <nlohmann/json.hpp>

#include "fixtures.hpp"
#include "problem.hpp"

using namespace tg;
using nlohmann::json;
using test::check_values;
using test::param;
using test::set_grad;

TEST_CASE("clip_grad_norm and clip_grad_value match PyTorch; undefined gradients are skipped") {
  const json data = test::load_fixtures("optim.json");
  const json& grads = data.at("grads").at(1);
  for (const json& k : data.at("clip")) {
    CAPTURE(k.at("name").get<std::string>());
    std::vector<Var> params;
    for (const json& g : grads) {
      params.push_back(Var::parameter(Tensor::zeros(test::shape_of(g), DType::f64), "p"));
      params.back().grad() = test::tensor_of(g);
    }
    params.push_back(param({0.0, 0.0}));  // no gradient
    const double max_norm = k.at("max_norm");
    if (k.at("kind") == "norm") {
      const json& type = k.at("norm_type");
      const double norm_type = type.is_string() ? std::numeric_limits<double>::infinity() : type.get<double>();
      const GradNorm n = clip_grad_norm(params, max_norm, norm_type);
      CHECK(n.finite);
      CHECK(std::abs(n.total_norm - k.at("total_norm").get<double>()) <= 1e-12 * n.total_norm);
      CHECK(n.scale == (max_norm / (n.total_norm + 1e-6) < 1 ? max_norm / (n.total_norm + 1e-6) : 1.0));
    } else {
      clip_grad_value(params, max_norm);
    }
    for (std::size_t i = 0; i < grads.size(); ++i) {
      CAPTURE(i);
      check_values(params[i].grad(), k.at("grads").at(i).at("data").get<std::vector<double>>(), 1e-12);
    }
    CHECK_FALSE(params.back().grad().defined());
  }
}

TEST_CASE("clip_grad_norm leaves non-finite gradients untouched and says so") {
  for (double bad : {std::nan(""), std::numeric_limits<double>::infinity()}) {
    CAPTURE(bad);
    for (double norm_type : {2.0, std::numeric_limits<double>::infinity()}) {
      Var a = param({3.0, 4.0});
      Var b = param({1.0, 0.0});
      set_grad(a, {3.0, 4.0});
      set_grad(b, {bad, 1.0});
      const GradNorm n = clip_grad_norm({a, b}, 1.0, norm_type);
      CHECK_FALSE(n.finite);
      CHECK_FALSE(std::isfinite(n.total_norm));
      CHECK(n.scale == 1.0);
      CHECK(a.grad().to_vector() == std::vector<double>{3.0, 4.0});
      CHECK(b.grad().at(1) == 1.0);
      // The training loop skips the step: the parameters stay as they are.
      Sgd sgd({a, b}, {.lr = 0.1});
      if (n.finite) sgd.step();
      CHECK(a.value().to_vector() == std::vector<double>{3.0, 4.0});
    }
  }
}

TEST_CASE("clip_grad_norm: closed form, float32, no gradient at all") {
  Var a = param({0.0, 0.0}, DType::f32);
  set_grad(a, {3.0, 4.0});
  const GradNorm n = clip_grad_norm({a}, 1.0);
  CHECK(n.total_norm == doctest::Approx(5.0));
  check_values(a.grad(), {3.0 / (5.0 + 1e-6), 4.0 / (5.0 + 1e-6)}, 1e-6);
  // Below max_norm nothing changes (the factor would be above 1).
  set_grad(a, {0.3, 0.4});
  const std::vector<double> before = a.grad().to_vector();
  CHECK(clip_grad_norm({a}, 1.0).scale == 1.0);
  CHECK(a.grad().to_vector() == before);
  Var none = param({1.0});
  const GradNorm empty = clip_grad_norm({none}, 1.0);
  CHECK(empty.total_norm == 0);
  CHECK(empty.finite);
}

TEST_CASE("clipping options are validated") {
  Var a = param({1.0});
  CHECK_THROWS_WITH_AS(clip_grad_norm({a}, -1.0), "clip_grad_norm: invalid max_norm = -1; it must be >= 0", Error);
  CHECK_THROWS_WITH_AS(clip_grad_norm({a}, 1.0, 0.0), "clip_grad_norm: invalid norm_type = 0; it must be > 0", Error);
  CHECK_THROWS_WITH_AS(clip_grad_value({a}, -0.5), "clip_grad_value: invalid clip = -0.5; it must be >= 0", Error);
}
