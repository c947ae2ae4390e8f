// Sgd and Adam against torch.optim.SGD and torch.optim.Adam: parameter values
// after each of 5 steps, stored in tests/fixtures/optim.json by
// tools/fixtures/gen_optim_fixtures.py.
#include <string>

#include <nlohmann/json.hpp>

#include "fixtures.hpp"
#include "problem.hpp"

using namespace tg;
using nlohmann::json;

namespace {

const json& fixtures() {
  static const json data = test::load_fixtures("optim.json");
  return data;
}

using test::tensor_of;

SgdOptions sgd_options(const json& o) {
  return {.lr = o.at("lr").get<double>(),
          .momentum = o.value("momentum", 0.0),
          .dampening = o.value("dampening", 0.0),
          .weight_decay = o.value("weight_decay", 0.0),
          .nesterov = o.value("nesterov", false)};
}

AdamOptions adam_options(const json& o) {
  return {.lr = o.value("lr", 1e-3),
          .beta1 = o.value("beta1", 0.9),
          .beta2 = o.value("beta2", 0.999),
          .eps = o.value("eps", 1e-8),
          .weight_decay = o.value("weight_decay", 0.0),
          .amsgrad = o.value("amsgrad", false)};
}

std::unique_ptr<Optimizer> make_optimizer(const json& k, std::vector<Var> params) {
  if (k.at("optimizer") == "sgd") return std::make_unique<Sgd>(std::move(params), sgd_options(k.at("options")));
  REQUIRE(k.at("optimizer") == "adam");
  return std::make_unique<Adam>(std::move(params), adam_options(k.at("options")));
}

bool grad_is_none(const json& k, std::size_t step, std::size_t param) {
  for (const json& pair : k.at("none_grads")) {
    if (pair.at(0).get<std::size_t>() == step && pair.at(1).get<std::size_t>() == param) return true;
  }
  return false;
}

// Runs case k in `dtype` and checks every step's values to tol (relative for
// values above 1 in magnitude); returns the optimizer for state checks.
std::unique_ptr<Optimizer> replay(const json& k, DType dtype, double tol) {
  const json& data = fixtures();
  std::vector<Var> params;
  for (const json& t : data.at("initial")) params.push_back(Var::parameter(tensor_of(t, dtype), "p"));
  std::unique_ptr<Optimizer> optimizer = make_optimizer(k, params);
  const json& grads = data.at("grads");
  REQUIRE(k.at("values").size() == grads.size());
  for (std::size_t step = 0; step < grads.size(); ++step) {
    for (std::size_t i = 0; i < params.size(); ++i) {
      if (grad_is_none(k, step, i)) {
        params[i].zero_grad();
      } else {
        params[i].grad() = tensor_of(grads.at(step).at(i), dtype);
      }
    }
    optimizer->step();
    for (std::size_t i = 0; i < params.size(); ++i) {
      CAPTURE(step);
      CAPTURE(i);
      const json& want = k.at("values").at(step).at(i);
      REQUIRE(params[i].value().dtype() == dtype);
      test::check_values(params[i].value(), want.at("data").get<std::vector<double>>(), tol);
    }
  }
  return optimizer;
}

}  // namespace

TEST_CASE("Sgd and Adam match PyTorch step by step in float64") {
  const json& cases = fixtures().at("cases");
  REQUIRE(cases.size() >= 10);
  for (const json& k : cases) {
    CAPTURE(k.at("name").get<std::string>());
    std::unique_ptr<Optimizer> optimizer = replay(k, DType::f64, 1e-12);
    if (k.contains("steps")) {
      const auto& adam = dynamic_cast<const Adam&>(*optimizer);
      std::vector<std::int64_t> steps = k.at("steps").get<std::vector<std::int64_t>>();
      for (std::size_t i = 0; i < steps.size(); ++i) CHECK(adam.state(i).step == steps[i]);
    }
  }
}

TEST_CASE("Sgd and Adam in float32 follow PyTorch's float64 trajectory to float32 precision") {
  for (const json& k : fixtures().at("cases")) {
    CAPTURE(k.at("name").get<std::string>());
    replay(k, DType::f32, 1e-5);
  }
}

TEST_CASE("the fixtures exercise skipped gradients for both optimizers") {
  int sgd = 0, adam = 0;
  for (const json& k : fixtures().at("cases")) {
    if (k.at("none_grads").empty()) continue;
    (k.at("optimizer") == "sgd" ? sgd : adam) += 1;
  }
  CHECK(sgd >= 1);
  CHECK(adam >= 1);
}
