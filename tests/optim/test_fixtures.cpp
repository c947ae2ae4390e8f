// Every optimizer against torch.optim (SGD, Adam, AdamW, RMSprop, Adagrad,
// Adadelta), with one or two parameter groups: parameter values after each of
// 5 steps, stored in tests/fixtures/optim.json by tools/fixtures/gen_optim_fixtures.py.
#include <map>
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

AdamWOptions adamw_options(const json& o) {
  return {.lr = o.value("lr", 1e-3),
          .beta1 = o.value("beta1", 0.9),
          .beta2 = o.value("beta2", 0.999),
          .eps = o.value("eps", 1e-8),
          .weight_decay = o.value("weight_decay", 1e-2),
          .amsgrad = o.value("amsgrad", false)};
}

// torch.optim.AdamW's options as Adam's, with decoupled_weight_decay (what AdamW is).
AdamOptions decoupled_adam_options(const json& o) {
  const AdamWOptions w = adamw_options(o);
  return {.lr = w.lr,
          .beta1 = w.beta1,
          .beta2 = w.beta2,
          .eps = w.eps,
          .weight_decay = w.weight_decay,
          .amsgrad = w.amsgrad,
          .decoupled_weight_decay = true};
}

RmspropOptions rmsprop_options(const json& o) {
  return {.lr = o.value("lr", 1e-2),
          .alpha = o.value("alpha", 0.99),
          .eps = o.value("eps", 1e-8),
          .weight_decay = o.value("weight_decay", 0.0),
          .momentum = o.value("momentum", 0.0),
          .centered = o.value("centered", false)};
}

AdagradOptions adagrad_options(const json& o) {
  return {.lr = o.value("lr", 1e-2),
          .lr_decay = o.value("lr_decay", 0.0),
          .weight_decay = o.value("weight_decay", 0.0),
          .initial_accumulator_value = o.value("initial_accumulator_value", 0.0),
          .eps = o.value("eps", 1e-10)};
}

AdadeltaOptions adadelta_options(const json& o) {
  return {.lr = o.value("lr", 1.0),
          .rho = o.value("rho", 0.9),
          .eps = o.value("eps", 1e-6),
          .weight_decay = o.value("weight_decay", 0.0)};
}

// P is std::vector<Var> (one group) or std::vector<ParamGroup>.
template <class P>
std::unique_ptr<Optimizer> make(const std::string& kind, const json& o, P params) {
  if (kind == "sgd") return std::make_unique<Sgd>(std::move(params), sgd_options(o));
  if (kind == "adam") return std::make_unique<Adam>(std::move(params), adam_options(o));
  if (kind == "adamw") return std::make_unique<AdamW>(std::move(params), adamw_options(o));
  if (kind == "adam_decoupled") return std::make_unique<Adam>(std::move(params), decoupled_adam_options(o));
  if (kind == "rmsprop") return std::make_unique<Rmsprop>(std::move(params), rmsprop_options(o));
  if (kind == "adagrad") return std::make_unique<Adagrad>(std::move(params), adagrad_options(o));
  REQUIRE(kind == "adadelta");
  return std::make_unique<Adadelta>(std::move(params), adadelta_options(o));
}

std::unique_ptr<Optimizer> make_optimizer(const json& k, std::vector<Var> params) {
  const json& o = k.at("options");
  const std::string kind = k.at("optimizer");
  if (!o.contains("groups")) return make(kind, o, std::move(params));
  std::vector<ParamGroup> groups;
  for (const json& g : o.at("groups")) {
    ParamGroup group;
    for (std::size_t i : g.at("params").get<std::vector<std::size_t>>()) group.params.push_back(params[i]);
    if (g.contains("lr")) group.lr = g.at("lr").get<double>();
    if (g.contains("weight_decay")) group.weight_decay = g.at("weight_decay").get<double>();
    groups.push_back(std::move(group));
  }
  return make(kind, o, std::move(groups));
}

// Step counts of the optimizers that keep one per parameter (AdamW is an Adam).
std::int64_t step_count(const Optimizer& optimizer, std::size_t i) {
  if (auto* adam = dynamic_cast<const Adam*>(&optimizer)) return adam->state(i).step;
  return dynamic_cast<const Adagrad&>(optimizer).state(i).step;
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

TEST_CASE("every optimizer matches PyTorch step by step in float64") {
  const json& cases = fixtures().at("cases");
  REQUIRE(cases.size() >= 30);
  for (const json& k : cases) {
    CAPTURE(k.at("name").get<std::string>());
    std::unique_ptr<Optimizer> optimizer = replay(k, DType::f64, 1e-12);
    if (k.contains("steps")) {
      std::vector<std::int64_t> steps = k.at("steps").get<std::vector<std::int64_t>>();
      for (std::size_t i = 0; i < steps.size(); ++i) CHECK(step_count(*optimizer, i) == steps[i]);
    }
  }
}

TEST_CASE("every optimizer in float32 follows PyTorch's float64 trajectory to float32 precision") {
  for (const json& k : fixtures().at("cases")) {
    CAPTURE(k.at("name").get<std::string>());
    replay(k, DType::f32, 1e-5);
  }
}

TEST_CASE("Adam with decoupled_weight_decay follows torch.optim.AdamW's fixtures") {
  int replayed = 0;
  for (const json& adamw_case : fixtures().at("cases")) {
    if (adamw_case.at("optimizer") != "adamw") continue;
    json k = adamw_case;
    k["optimizer"] = "adam_decoupled";
    CAPTURE(k.at("name").get<std::string>());
    std::unique_ptr<Optimizer> optimizer = replay(k, DType::f64, 1e-12);
    REQUIRE(std::string(optimizer->name()) == "Adam");
    const std::vector<std::int64_t> steps = k.at("steps").get<std::vector<std::int64_t>>();
    for (std::size_t i = 0; i < steps.size(); ++i) CHECK(step_count(*optimizer, i) == steps[i]);
    replay(k, DType::f32, 1e-5);
    ++replayed;
  }
  CHECK(replayed >= 4);
}

TEST_CASE("the fixtures exercise skipped gradients and two groups for every optimizer") {
  std::map<std::string, int> skipped, grouped;
  for (const json& k : fixtures().at("cases")) {
    if (!k.at("none_grads").empty()) skipped[k.at("optimizer")] += 1;
    if (k.at("options").contains("groups")) grouped[k.at("optimizer")] += 1;
  }
  for (const char* kind : {"sgd", "adam", "adamw", "rmsprop", "adagrad", "adadelta"}) {
    CAPTURE(kind);
    CHECK(skipped[kind] >= 1);
    CHECK(grouped[kind] >= 1);
  }
}
