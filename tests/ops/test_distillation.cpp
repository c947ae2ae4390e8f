// distillation_loss (ops/loss.hpp): gradchecked, equal to PyTorch's T^2 kl_div of the softened
// distributions (tests/fixtures/distillation.json), zero when the student is the teacher.
#include <cmath>
#include <string>

#include <nlohmann/json.hpp>

#include "check.hpp"
#include "fixtures.hpp"
#include "tapegrad.hpp"

using namespace tg;
using tg::test::expect_gradcheck;

namespace {

Indices indices_of(const nlohmann::json& t) {
  Indices out = Indices::from_shape(test::shape_of(t));
  const std::vector<std::int64_t> data = t.at("data").get<std::vector<std::int64_t>>();
  std::copy(data.begin(), data.end(), out.begin());
  return out;
}

Reduction reduction_of(const std::string& name) {
  return name == "mean" ? Reduction::mean : name == "sum" ? Reduction::sum : Reduction::none;
}

}  // namespace

TEST_CASE("distillation_loss passes gradcheck for every reduction and temperature, size-1 dimensions included") {
  struct Case {
    Shape shape;
    Indices targets;
  };
  Indices column = {3, 0};
  column.reshape({2, 1});
  const Case cases[] = {{{1, 3, 4}, Indices{{1, 0, 2}}}, {{2, 1, 5}, column}, {{3, 2}, Indices{1, 1, 0}}};
  std::uint64_t seed = 1;
  for (const Case& k : cases) {
    for (double temperature : {1.0, 2.5, 0.7}) {
      for (Reduction r : {Reduction::mean, Reduction::sum, Reduction::none}) {
        CAPTURE(shape_str(k.shape));
        CAPTURE(temperature);
        const Tensor teacher = test::randn(k.shape, seed++);
        const DistillationOptions o{.temperature = temperature, .ignore_index = 0, .reduction = r};
        expect_gradcheck(
            [&](const std::vector<Var>& v) {
              Var loss = distillation_loss(v[0], teacher, k.targets, o);
              return r == Reduction::none ? sum(loss * Var(test::randn(loss.shape(), 99))) : loss;
            },
            {test::randn(k.shape, seed++)});
      }
    }
  }
}

TEST_CASE("distillation_loss equals PyTorch's T^2 kl_div of the softened distributions (fixtures)") {
  const nlohmann::json f = test::load_fixtures("distillation.json");
  for (const nlohmann::json& c : f.at("cases")) {
    CAPTURE(c.at("name").get<std::string>());
    for (const auto& [dtype, tolerance] : {std::pair{DType::f64, 1e-10}, std::pair{DType::f32, 1e-5}}) {
      const DistillationOptions o{.temperature = c.at("temperature"),
                                  .ignore_index = c.at("ignore_index"),
                                  .reduction = reduction_of(c.at("reduction"))};
      Var student(test::tensor_of(c.at("student"), dtype), true);
      Var loss = distillation_loss(student, test::tensor_of(c.at("teacher"), dtype), indices_of(c.at("targets")), o);
      const std::vector<double> got = loss.value().to_vector(), want = c.at("loss").at("data");
      REQUIRE(got.size() == want.size());
      for (std::size_t i = 0; i < got.size(); ++i) CHECK(got[i] == doctest::Approx(want[i]).epsilon(tolerance));
      sum(loss * Var(test::tensor_of(c.at("seed"), dtype))).backward();
      const std::vector<double> grad = student.grad().to_vector(), want_grad = c.at("grad").at("data");
      for (std::size_t i = 0; i < grad.size(); ++i) {
        CHECK(std::abs(grad[i] - want_grad[i]) <= tolerance * (1 + std::abs(want_grad[i])));
      }
    }
  }
}

TEST_CASE("distillation_loss is zero with zero gradient when the student is the teacher; bad input is named") {
  const Tensor logits = test::randn({2, 4}, 3);
  Var student(logits, true);
  Var loss = distillation_loss(student, logits, Indices{1, 2}, {.temperature = 3.0});
  CHECK(std::abs(loss.item()) < 1e-15);
  loss.backward();
  for (double g : student.grad().to_vector()) CHECK(std::abs(g) < 1e-15);
  CHECK_THROWS_WITH_AS(distillation_loss(student, test::randn({2, 5}, 4), Indices{1, 2}),
                       doctest::Contains("student [2, 4], teacher [2, 5], targets [2]"), ShapeError);
  CHECK_THROWS_WITH_AS(distillation_loss(student, logits, Indices{1, 2}, {.temperature = 0.0}),
                       doctest::Contains("temperature 0 must be positive"), Error);
}
