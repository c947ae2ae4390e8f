// Positional encodings against PyTorch (tests/fixtures/positional.json, made by
// tools/fixtures/gen_positional_fixtures.py) and gradchecked in float64.
#include <doctest/doctest.h>

#include <cmath>
#include <string>

#include <nlohmann/json.hpp>

#include "fixtures.hpp"
#include "ops/check.hpp"
#include "tapegrad/models/learned_positional_encoding.hpp"
#include "tapegrad/models/sinusoidal_positional_encoding.hpp"
#include "tapegrad/ops/elementwise.hpp"
#include "tapegrad/ops/reduce.hpp"
#include "tapegrad/ops/shape.hpp"

using namespace tg;

namespace {

void check_close(const Tensor& got, const nlohmann::json& expected, double tolerance) {
  REQUIRE(got.shape() == test::shape_of(expected));
  const std::vector<double> want = expected.at("data").get<std::vector<double>>();
  const std::vector<double> have = got.to_vector();
  for (std::size_t i = 0; i < want.size(); ++i) {
    INFO("element ", i);
    CHECK(std::abs(have[i] - want[i]) <= tolerance * (1.0 + std::abs(want[i])));
  }
}

}  // namespace

TEST_CASE("SinusoidalPositionalEncoding: PyTorch's table, even and odd d, any offset, in float64 and float32") {
  const nlohmann::json fixtures = test::load_fixtures("positional.json");
  for (const nlohmann::json& c : fixtures.at("sinusoidal")) {
    const std::size_t d = c.at("d_model").get<std::size_t>();
    INFO("d_model ", d);
    SinusoidalPositionalEncoding pe({.d_model = d});
    CHECK(pe.named_parameters().empty());  // nothing in the state dict
    check_close(pe.table(0, 50, DType::f64), c.at("table"), 1e-13);
    // forward adds the rows from `offset` on, broadcast over the batch, in x's dtype.
    const Tensor x = test::randn({2, 3, d}, 4);
    const Tensor y = pe.forward(Var(x), 47).value();
    const Tensor rows = pe.table(47, 3, DType::f64);
    const std::vector<double> table = c.at("table").at("data").get<std::vector<double>>();
    for (std::size_t b = 0; b < 2; ++b) {
      for (std::size_t l = 0; l < 3; ++l) {
        for (std::size_t j = 0; j < d; ++j) {
          const std::size_t at = (b * 3 + l) * d + j;
          CHECK(y.at(at) == doctest::Approx(x.at(at) + table[(47 + l) * d + j]).epsilon(1e-13));
          CHECK(rows.at(l * d + j) == pe.table(0, 50, DType::f64).at((47 + l) * d + j));
        }
      }
    }
    const Tensor y32 = pe.forward(Var(x.to(DType::f32)), 47).value();
    CHECK(y32.dtype() == DType::f32);
    for (std::size_t i = 0; i < y.size(); ++i) CHECK(y32.at(i) == doctest::Approx(y.at(i)).epsilon(1e-6));
  }
  // An odd d's last column is a sine: PE[pos, 6] = sin(pos / 10000^(6/7)).
  SinusoidalPositionalEncoding odd({.d_model = 7});
  CHECK(odd.table(5, 1, DType::f64).at(6) ==
        doctest::Approx(std::sin(5.0 / std::pow(10000.0, 6.0 / 7.0))).epsilon(1e-15));
}

TEST_CASE("SinusoidalPositionalEncoding: step t alone equals row t of the whole sequence; gradcheck; bad shapes") {
  SinusoidalPositionalEncoding pe({.d_model = 5});
  const Tensor x = test::randn({2, 6, 5}, 7);
  const Tensor whole = pe.forward(Var(x), 0).value();
  for (std::size_t t = 0; t < 6; ++t) {
    const Tensor step = pe.forward(slice(Var(x), 1, static_cast<long>(t), static_cast<long>(t + 1)), t).value();
    for (std::size_t b = 0; b < 2; ++b) {
      for (std::size_t j = 0; j < 5; ++j) CHECK(step.at(b * 5 + j) == whole.at((b * 6 + t) * 5 + j));
    }
  }
  for (Shape shape : {Shape{1, 1, 5}, Shape{3, 1, 5}, Shape{1, 4, 5}, Shape{4, 5}}) {
    GradcheckReport r =
        gradcheck(pe, [&](const std::vector<Var>& xs) { return pe.forward(xs[0], 3); }, {test::randn(shape, 8)});
    INFO(r.message());
    CHECK(r.passed);
  }
  CHECK_THROWS_WITH_AS(pe.forward(Var(Tensor::zeros({2, 3, 4})), 0), doctest::Contains("[2, 3, 4]"), ShapeError);
  CHECK_THROWS_AS(pe.forward(Var(Tensor::zeros({5})), 0), ShapeError);
  CHECK_THROWS_AS(pe.forward(Var(Tensor::zeros({2, 0, 5})), 0), ShapeError);
  CHECK_THROWS_AS(SinusoidalPositionalEncoding({.d_model = 0}), Error);
}

TEST_CASE("LearnedPositionalEncoding: PyTorch's values and gradients, from any offset") {
  const nlohmann::json fixtures = test::load_fixtures("positional.json");
  for (const nlohmann::json& c : fixtures.at("learned")) {
    INFO(c.at("name").get<std::string>());
    LearnedPositionalEncoding pe({.d_model = c.at("d_model").get<std::size_t>(),
                                  .max_length = c.at("max_length").get<std::size_t>(),
                                  .dtype = DType::f64});
    REQUIRE(pe.named_parameters().size() == 1);
    CHECK(pe.named_parameters()[0].name == "weight");
    CHECK(pe.options().kind == PositionalKind::learned);
    pe.weight.mutable_value() = test::tensor_of(c.at("weight"));
    Var x(test::tensor_of(c.at("x")), /*requires_grad=*/true);
    Var y = pe.forward(x, c.at("offset").get<std::size_t>());
    check_close(y.value(), c.at("y"), 1e-14);
    sum(y * Var(test::tensor_of(c.at("r")))).backward();
    check_close(x.grad(), c.at("grad_x"), 1e-14);
    check_close(pe.weight.grad(), c.at("grad_weight"), 1e-14);
  }
}

TEST_CASE("LearnedPositionalEncoding: gradcheck with size-1 dimensions; a position past the maximum is named") {
  Generator gen(2);
  LearnedPositionalEncoding pe({.d_model = 3, .max_length = 5, .dtype = DType::f64}, gen);
  for (const auto& [shape, offset] :
       {std::pair{Shape{1, 1, 3}, std::size_t{4}}, std::pair{Shape{2, 1, 3}, std::size_t{0}},
        std::pair{Shape{1, 5, 3}, std::size_t{0}}, std::pair{Shape{3, 2, 3}, std::size_t{2}}}) {
    const std::size_t at = offset;  // clang 14 cannot capture a structured binding in a lambda
    GradcheckReport r =
        gradcheck(pe, [&](const std::vector<Var>& xs) { return pe.forward(xs[0], at); }, {test::randn(shape, 9)});
    INFO(r.message());
    CHECK(r.passed);
  }
  LearnedPositionalEncoding d1({.d_model = 1, .max_length = 1, .dtype = DType::f64});
  GradcheckReport r =
      gradcheck(d1, [&](const std::vector<Var>& xs) { return d1.forward(xs[0], 0); }, {test::randn({1, 1, 1}, 3)});
  INFO(r.message());
  CHECK(r.passed);

  CHECK_THROWS_WITH_AS(pe.forward(Var(Tensor::zeros({1, 2, 3}, DType::f64)), 4),
                       doctest::Contains("position 5 is past the last one, 4 (max_length 5)"), IndexError);
  CHECK_THROWS_WITH_AS(pe.forward(Var(Tensor::zeros({1, 6, 3}, DType::f64)), 0),
                       doctest::Contains("position 5 is past"), IndexError);
  CHECK_THROWS_AS(pe.forward(Var(Tensor::zeros({1, 2, 4}, DType::f64)), 0), ShapeError);
  CHECK_THROWS_AS(LearnedPositionalEncoding({.d_model = 3, .max_length = 0}), Error);
}

TEST_CASE("make_positional_encoding builds the named kind; the kinds' names parse back") {
  Generator gen(1);
  auto learned = make_positional_encoding({.kind = PositionalKind::learned, .d_model = 4, .max_length = 7}, gen);
  CHECK(dynamic_cast<LearnedPositionalEncoding*>(learned.get()) != nullptr);
  CHECK(learned->parameter_count() == 28);
  auto fixed = make_positional_encoding({.kind = PositionalKind::sinusoidal, .d_model = 4}, gen);
  CHECK(dynamic_cast<SinusoidalPositionalEncoding*>(fixed.get()) != nullptr);
  for (PositionalKind kind : {PositionalKind::sinusoidal, PositionalKind::learned}) {
    CHECK(parse_positional_kind(positional_kind_name(kind)) == kind);
  }
  CHECK_THROWS_WITH_AS(parse_positional_kind("rotary"), doctest::Contains("sinusoidal or learned"), Error);
}
