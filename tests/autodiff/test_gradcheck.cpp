// gradcheck itself: it must pass a correct derivative, fail a wrong one, and
// point at the element that is wrong.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "tapegrad.hpp"

using namespace tg;

namespace {

bool has(const std::vector<std::string>& names, const std::string& name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

// A user's custom op, y = x^2 elementwise, whose backward is 2 x dy except at
// flat element `wrong_at`, where it is multiplied by `factor`.
Var square_with_error(const Var& x, std::size_t wrong_at, double factor, const char* op = "test_square") {
  std::vector<double> v = x.value().to_vector();
  std::vector<double> y(v.size());
  for (std::size_t i = 0; i < v.size(); ++i) y[i] = v[i] * v[i];
  return record(op, {x}, Tensor::from_vector(y, x.shape(), x.dtype()), [wrong_at, factor](BackwardContext& c) {
    std::vector<double> xv = c.input(0).to_vector(), dy = c.grad_output().to_vector();
    std::vector<double> dx(xv.size());
    for (std::size_t i = 0; i < xv.size(); ++i) dx[i] = 2 * xv[i] * dy[i] * (i == wrong_at ? factor : 1);
    c.grad_input(0) = Tensor::from_vector(dx, c.input(0).shape(), c.input(0).dtype());
  });
}

constexpr std::size_t kNowhere = std::numeric_limits<std::size_t>::max();

}  // namespace

TEST_CASE("gradcheck passes a correct derivative and reports its worst element") {
  GradcheckReport report = gradcheck([](const std::vector<Var>& in) { return tanh(in[0]) * sigmoid(in[1]); },
                                     {Tensor::normal({3, 4}, 0, 1, 1), Tensor::normal({4}, 0, 1, 2)});
  CHECK(report);
  CHECK(report.elements_checked == 16);
  CHECK(report.error_ratio <= 1.0);
  CHECK(report.error_ratio >= 0.0);
  CHECK(has(report.ops, "tanh"));
  CHECK(has(report.ops, "sigmoid"));
  CHECK(has(report.ops, "mul"));
  CHECK(report.abs_error == doctest::Approx(std::abs(report.analytic - report.numeric)));
  CHECK(report.message().find("gradcheck passed") == 0);
}

TEST_CASE("gradcheck fails a wrong derivative and names the input and index where it is wrong") {
  // Input 1 has shape [2, 3]; its flat element 5 is index [1, 2].
  auto f = [](const std::vector<Var>& in) { return in[0] + square_with_error(in[1], 5, 1.01); };
  Tensor a = Tensor::normal({2, 3}, 0, 1, 3);
  Tensor b = Tensor::uniform({2, 3}, 0.5, 1.5, 4);
  GradcheckReport report = gradcheck(f, {a, b});
  CHECK_FALSE(report);
  CHECK(report.input == 1);
  CHECK(report.flat_index == 5);
  CHECK(report.index == std::vector<std::size_t>{1, 2});
  CHECK(report.error_ratio > 1.0);
  // The numeric derivative is the true one, 2 b w; the analytic one is 1% off.
  CHECK(report.analytic == doctest::Approx(1.01 * report.numeric).epsilon(1e-6));
  const std::string message = report.message();
  CHECK(message.find("FAILED") != std::string::npos);
  CHECK(message.find("input 1 index [1, 2]") != std::string::npos);
  CHECK(message.find("test_square") != std::string::npos);
  // The same op with its derivative right everywhere passes.
  CHECK(gradcheck([](const std::vector<Var>& in) { return in[0] + square_with_error(in[1], kNowhere, 1); }, {a, b}));
}

TEST_CASE("gradcheck's tolerances are the options it is given") {
  // A relative error of 5e-4 is within rtol 1e-3 ...
  auto off_by_5e4 = [](const std::vector<Var>& in) { return square_with_error(in[0], 0, 1 + 5e-4); };
  Tensor x = Tensor::uniform({3}, 1, 2, 5);
  CHECK(gradcheck(off_by_5e4, {x}));
  // ... but not within rtol 1e-4 (with atol small enough not to cover it).
  CHECK_FALSE(gradcheck(off_by_5e4, {x}, GradcheckOptions{.atol = 1e-9, .rtol = 1e-4}));
}

TEST_CASE("gradcheck fails a NaN gradient") {
  auto nan_grad = [](const std::vector<Var>& in) {
    return record("test_nan_grad", {in[0]}, in[0].value(), [](BackwardContext& c) {
      c.grad_input(0) = Tensor::full(c.input(0).shape(), std::nan(""), c.input(0).dtype());
    });
  };
  GradcheckReport report = gradcheck(nan_grad, {Tensor::ones({2})});
  CHECK_FALSE(report);
  CHECK(std::isinf(report.error_ratio));
}

TEST_CASE("only a passing gradcheck counts an op as checked") {
  Tensor x = Tensor::uniform({4}, 0.5, 1.5, 6);
  // An op name no other test uses: coverage is per process.
  auto wrong = [](const std::vector<Var>& in) { return square_with_error(in[0], 2, 2.0, "test_square_coverage"); };
  auto right = [](const std::vector<Var>& in) { return square_with_error(in[0], kNowhere, 1, "test_square_coverage"); };
  CHECK_FALSE(gradcheck(wrong, {x}));
  CHECK(gradchecked_ops().count("test_square_coverage") == 0);
  CHECK(gradcheck(right, {x}));
  CHECK(gradchecked_ops().count("test_square_coverage") == 1);
}

TEST_CASE("gradcheck insists on float64 and leaves the caller's tape alone") {
  Var outside(Tensor::ones({2}), true);
  Var kept = outside * 3.0;
  const std::size_t entries = current_tape().size();
  auto in_float32 = [](const std::vector<Var>&) { return Var(Tensor::ones({1}, DType::f32)); };
  CHECK_THROWS_WITH_AS(gradcheck(in_float32, {Tensor::ones({2})}), doctest::Contains("float64"), DTypeError);
  CHECK(gradcheck([](const std::vector<Var>& in) { return exp(in[0]); }, {Tensor::ones({2})}));
  CHECK(current_tape().size() == entries);
  kept.backward(Tensor::ones({2}));
  CHECK(outside.grad().to_vector() == std::vector<double>{3, 3});
}

TEST_CASE("gradcheck checks every element of a non-scalar result") {
  // If the reduction weights skipped an output, an error in its derivative would go unseen:
  // put the error in the last element of a [2, 2, 2] result.
  auto f = [](const std::vector<Var>& in) { return square_with_error(in[0], 7, 1.5); };
  GradcheckReport report = gradcheck(f, {Tensor::uniform({2, 2, 2}, 0.5, 1.5, 7)});
  CHECK_FALSE(report);
  CHECK(report.index == std::vector<std::size_t>{1, 1, 1});
}
