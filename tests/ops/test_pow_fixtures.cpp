// pow's values and gradients at its edges (0^0, 0^-1, a negative base, a
// zero exponent) against PyTorch's, stored in tests/fixtures/pow.json by
// tools/fixtures/gen_pow_fixtures.py. NaN and inf are stored as strings.
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "check.hpp"
#include "fixtures.hpp"
#include "tapegrad.hpp"

using namespace tg;
using nlohmann::json;

namespace {

const json& fixtures() {
  static const json data = test::load_fixtures("pow.json");
  return data;
}

double number_of(const json& v) {
  if (v.is_number()) return v.get<double>();
  const std::string s = v.get<std::string>();
  if (s == "nan") return std::numeric_limits<double>::quiet_NaN();
  REQUIRE((s == "inf" || s == "-inf"));
  return s == "inf" ? INFINITY : -INFINITY;
}

std::vector<double> values_of(const json& t) {
  std::vector<double> out;
  for (const json& v : t.at("data")) out.push_back(number_of(v));
  return out;
}

Tensor tensor_of(const json& t) { return Tensor::from_vector(values_of(t), test::shape_of(t), DType::f64); }

// NaN matches NaN and an infinity the same infinity; finite values agree to 1e-12.
void check_same(const Tensor& got, const json& expected, const std::vector<double>& x, const std::vector<double>& b) {
  REQUIRE(got.shape() == test::shape_of(expected));
  const std::vector<double> want = values_of(expected);
  for (std::size_t i = 0; i < want.size(); ++i) {
    CAPTURE(x[i]);
    CAPTURE(b[i]);
    CAPTURE(got.at(i));
    CAPTURE(want[i]);
    if (std::isnan(want[i])) {
      CHECK(std::isnan(got.at(i)));
    } else if (std::isinf(want[i])) {
      CHECK(got.at(i) == want[i]);
    } else {
      CHECK(std::abs(got.at(i) - want[i]) <= 1e-12);
    }
  }
}

}  // namespace

TEST_CASE("pow matches PyTorch's values and gradients at its edges in float64") {
  const json& k = fixtures().at("tensor");
  Var x(tensor_of(k.at("x")), true), b(tensor_of(k.at("b")), true);
  const std::vector<double> xs = values_of(k.at("x")), bs = values_of(k.at("b"));
  REQUIRE(xs.size() >= 40);
  Var y = pow(x, b);
  check_same(y.value(), k.at("y"), xs, bs);
  y.backward(tensor_of(k.at("grad_output")));
  check_same(x.grad(), k.at("dx"), xs, bs);
  check_same(b.grad(), k.at("db"), xs, bs);
}

TEST_CASE("pow with a scalar exponent matches PyTorch's values and gradients at its edges in float64") {
  REQUIRE(fixtures().at("scalar_exponent").size() >= 5);
  for (const json& k : fixtures().at("scalar_exponent")) {
    const double exponent = k.at("exponent").get<double>();
    CAPTURE(exponent);
    Var x(tensor_of(k.at("x")), true);
    const std::vector<double> xs = values_of(k.at("x")), bs(xs.size(), exponent);
    Var y = pow(x, exponent);
    check_same(y.value(), k.at("y"), xs, bs);
    y.backward(tensor_of(k.at("grad_output")));
    check_same(x.grad(), k.at("dx"), xs, bs);
  }
}
