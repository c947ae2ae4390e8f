// The nn ops against PyTorch's values and gradients, stored in
// tests/fixtures/nn.json by tools/fixtures/gen_nn_fixtures.py.
#include <cmath>
#include <string>

#include <nlohmann/json.hpp>

#include "check.hpp"
#include "fixtures.hpp"
#include "tapegrad.hpp"

using namespace tg;
using nlohmann::json;

namespace {

const json& fixtures() {
  static const json data = test::load_fixtures("nn.json");
  return data;
}

using test::shape_of;
using test::tensor_of;

Indices indices_of(const json& t) {
  Indices out = Indices::from_shape(shape_of(t));
  std::vector<std::int64_t> data = t.at("data").get<std::vector<std::int64_t>>();
  REQUIRE(data.size() == out.size());
  std::copy(data.begin(), data.end(), out.begin());
  return out;
}

Reduction reduction_of(const std::string& name) {
  if (name == "none") return Reduction::none;
  if (name == "sum") return Reduction::sum;
  REQUIRE(name == "mean");
  return Reduction::mean;
}

void check_close(const Tensor& got, const json& expected) {
  REQUIRE(got.shape() == shape_of(expected));
  std::vector<double> want = expected.at("data").get<std::vector<double>>();
  for (std::size_t i = 0; i < want.size(); ++i) {
    CAPTURE(i);
    CHECK(std::abs(got.at(i) - want[i]) <= 1e-10);
  }
}

}  // namespace

TEST_CASE("cross_entropy matches PyTorch's loss and gradient in float64") {
  REQUIRE(fixtures().at("cross_entropy").size() >= 5);
  for (const json& k : fixtures().at("cross_entropy")) {
    CAPTURE(k.at("name").get<std::string>());
    CrossEntropyOptions options{.ignore_index = k.at("ignore_index").get<std::int64_t>(),
                                .label_smoothing = k.at("label_smoothing").get<double>(),
                                .reduction = reduction_of(k.at("reduction").get<std::string>())};
    Var logits(tensor_of(k.at("logits")), true);
    Var loss = cross_entropy(logits, indices_of(k.at("targets")), options);
    check_close(loss.value(), k.at("loss"));
    loss.backward(tensor_of(k.at("grad_output")));
    check_close(logits.grad(), k.at("dlogits"));
  }
}

TEST_CASE("softmax and log_softmax match PyTorch's values and gradients in float64") {
  for (const char* op : {"softmax", "log_softmax"}) {
    REQUIRE(!fixtures().at(op).empty());
    for (const json& k : fixtures().at(op)) {
      CAPTURE(std::string(op) + "/" + k.at("name").get<std::string>());
      Var x(tensor_of(k.at("x")), true);
      long axis = k.at("axis").get<long>();
      Var y = std::string(op) == "softmax" ? softmax(x, axis) : log_softmax(x, axis);
      check_close(y.value(), k.at("y"));
      y.backward(tensor_of(k.at("grad_output")));
      check_close(x.grad(), k.at("dx"));
    }
  }
}
