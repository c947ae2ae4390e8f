#include "tapegrad/autodiff/gradcheck.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <mutex>
#include <random>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "tapegrad/autodiff/mode.hpp"
#include "tapegrad/autodiff/tape.hpp"

namespace tg {
namespace {

std::mutex coverage_mutex;
std::set<std::string>& coverage() {
  static std::set<std::string> ops;
  return ops;
}

std::vector<std::size_t> unravel(std::size_t flat, const Shape& shape) {
  std::vector<std::size_t> index(shape.size());
  for (std::size_t d = shape.size(); d-- > 0;) {
    index[d] = shape[d] == 0 ? 0 : flat % shape[d];
    flat = shape[d] == 0 ? 0 : flat / shape[d];
  }
  return index;
}

double weighted_sum(const Tensor& y, const std::vector<double>& w) {
  std::vector<double> v = y.to_vector();
  double s = 0;
  for (std::size_t i = 0; i < v.size(); ++i) s += w[i] * v[i];
  return s;
}

}  // namespace

std::string GradcheckReport::message() const {
  std::string ops_list = fmt::format("{}", fmt::join(ops, ", "));
  if (passed) {
    return fmt::format(
        "gradcheck passed: {} elements, worst at input {} index [{}]: analytic {:.10g}, numeric "
        "{:.10g} (error ratio {:.3g}); ops: {}",
        elements_checked, input, fmt::join(index, ", "), analytic, numeric, error_ratio, ops_list);
  }
  return fmt::format(
      "gradcheck FAILED at input {} index [{}] (flat {}): analytic {:.10g}, numeric {:.10g}, "
      "|difference| {:.3g} (error ratio {:.3g} > 1); ops: {}",
      input, fmt::join(index, ", "), flat_index, analytic, numeric, abs_error, error_ratio, ops_list);
}

GradcheckReport gradcheck(const GradcheckFn& f, const std::vector<Tensor>& inputs, const GradcheckOptions& options) {
  GradcheckReport report;
  // A private tape: the user's tape and its entries are left alone.
  Tape tape;
  UseTape use(tape);

  std::vector<Var> vars;
  for (const Tensor& t : inputs) vars.emplace_back(t.to(DType::f64), true);

  Var y = f(vars);
  if (!y.defined()) throw Error("gradcheck: the function returned an undefined Var");
  if (y.dtype() != DType::f64) {
    throw DTypeError(fmt::format("gradcheck: the function returned {} for float64 inputs; it must compute in float64",
                                 dtype_name(y.dtype())));
  }
  for (std::size_t k = 0; k < tape.size(); ++k) {
    const char* op = tape.entry(k).op;
    if (std::find(report.ops.begin(), report.ops.end(), op) == report.ops.end()) report.ops.emplace_back(op);
  }

  std::mt19937_64 gen(options.seed);
  std::uniform_real_distribution<double> dist(0.5, 1.5);
  std::vector<double> w(y.size());
  for (double& x : w) x = std::bernoulli_distribution(0.5)(gen) ? dist(gen) : -dist(gen);
  Tensor seed = Tensor::from_vector(w, y.shape(), DType::f64);

  if (y.requires_grad()) y.backward(seed);

  double worst = -1;
  for (std::size_t i = 0; i < vars.size(); ++i) {
    Tensor& x = vars[i].mutable_value();
    Tensor analytic = vars[i].grad().defined() ? vars[i].grad() : Tensor::zeros(x.shape(), DType::f64);
    for (std::size_t j = 0; j < x.size(); ++j) {
      double original = x.at(j);
      double plus, minus;
      {
        NoGradGuard no_grad;
        x.set(j, original + options.eps);
        plus = weighted_sum(f(vars).value(), w);
        x.set(j, original - options.eps);
        minus = weighted_sum(f(vars).value(), w);
        x.set(j, original);
      }
      double numeric = (plus - minus) / (2 * options.eps);
      double a = analytic.at(j);
      double diff = std::abs(a - numeric);
      double ratio = diff / (options.atol + options.rtol * std::abs(numeric));
      if (std::isnan(ratio)) ratio = std::numeric_limits<double>::infinity();
      ++report.elements_checked;
      if (ratio > worst) {
        worst = ratio;
        report.input = i;
        report.flat_index = j;
        report.index = unravel(j, x.shape());
        report.analytic = a;
        report.numeric = numeric;
        report.abs_error = diff;
        report.error_ratio = ratio;
      }
    }
  }
  report.passed = worst <= 1.0;
  if (report.passed) {
    std::lock_guard lock(coverage_mutex);
    coverage().insert(report.ops.begin(), report.ops.end());
  }
  return report;
}

const std::set<std::string>& gradchecked_ops() {
  std::lock_guard lock(coverage_mutex);
  return coverage();
}

}  // namespace tg
