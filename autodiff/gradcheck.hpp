#pragma once
/// gradcheck: compares the tape's gradients of a user's function with float64
/// central finite differences, element by element.
///
///   auto report = tg::gradcheck([](const std::vector<tg::Var>& x) { return my_fn(x[0], x[1]); },
///                               {tg::Tensor::normal({3, 4}, 0, 1, 1), tg::Tensor::normal({4}, 0, 1, 2)});
///   if (!report) std::cerr << report.message();

#include <cstdint>
#include <functional>
#include <set>
#include <string>
#include <vector>

#include "tapegrad/autodiff/var.hpp"

namespace tg {

struct GradcheckOptions {
  double eps = 1e-6;   ///< finite-difference step
  double atol = 1e-5;  ///< absolute tolerance
  double rtol = 1e-3;  ///< tolerance relative to |numeric|
  /// Seed of the random weights that reduce a non-scalar output to a scalar.
  std::uint64_t seed = 0x5eed;
};

/// The outcome of one gradcheck, with its worst element.
struct GradcheckReport {
  bool passed = true;
  /// Worst element: the one with the largest |analytic - numeric| / (atol + rtol |numeric|).
  std::size_t input = 0;
  std::size_t flat_index = 0;
  std::vector<std::size_t> index;  ///< multi-index of flat_index in the input's shape
  double analytic = 0;
  double numeric = 0;
  double abs_error = 0;
  /// worst |analytic - numeric| / (atol + rtol |numeric|); passed iff <= 1.
  double error_ratio = 0;
  std::size_t elements_checked = 0;
  /// Op names recorded on the tape by the function (its primitive ops).
  std::vector<std::string> ops;

  explicit operator bool() const { return passed; }
  /// One paragraph for humans: passed or failed, where, and both values.
  std::string message() const;
};

using GradcheckFn = std::function<Var(const std::vector<Var>&)>;

/// Checks the gradient of f at `inputs` (converted to float64 leaves that
/// require grad). f may return a tensor of any shape: it is reduced with fixed
/// random weights w to sum(w * f(x)), whose exact gradient is checked.
GradcheckReport gradcheck(const GradcheckFn& f, const std::vector<Tensor>& inputs,
                          const GradcheckOptions& options = {});

/// Names of every op that some passing gradcheck in this process has exercised.
const std::set<std::string>& gradchecked_ops();

}  // namespace tg
