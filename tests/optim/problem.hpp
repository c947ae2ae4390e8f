#pragma once
// Helpers shared by the optimizer tests: parameters with set gradients, and a
// small classification problem whose loss an optimizer should lower.

#include <doctest/doctest.h>

#include <cmath>
#include <functional>
#include <memory>
#include <vector>

#include "tapegrad.hpp"
#include "tapegrad/optim/adam.hpp"
#include "tapegrad/optim/sgd.hpp"

namespace tg::test {

/// A parameter of `dtype` holding `values` (shape [n] unless given).
inline Var param(const std::vector<double>& values, DType dtype = DType::f64, Shape shape = {}) {
  if (shape.empty()) shape = Shape{values.size()};
  return Var::parameter(Tensor::from_vector(values, shape, dtype), "p");
}

/// Sets p's gradient to `values` (p's shape and dtype).
inline void set_grad(Var& p, const std::vector<double>& values) {
  p.grad() = Tensor::from_vector(values, p.shape(), p.dtype());
}

/// |got - want| <= tol * max(1, |want|) element by element.
inline void check_values(const Tensor& got, const std::vector<double>& want, double tol) {
  REQUIRE(got.size() == want.size());
  for (std::size_t i = 0; i < want.size(); ++i) {
    CAPTURE(i);
    CAPTURE(got.at(i));
    CAPTURE(want[i]);
    CHECK(std::abs(got.at(i) - want[i]) <= tol * std::max(1.0, std::abs(want[i])));
  }
}

/// Classification of 4 rows into 5 classes with logits = w + b, w [4, 5] and
/// b [5] parameters: the mean cross entropy starts near 2.2 and can reach 0.
struct Classifier {
  Var w;
  Var b;
  Indices targets = {1, 0, 4, 2};

  explicit Classifier(DType dtype)
      : w(Var::parameter(Tensor::normal({4, 5}, 0.0, 1.0, 7, dtype), "w")),
        b(Var::parameter(Tensor::zeros({5}, dtype), "b")) {}

  std::vector<Var> parameters() const { return {w, b}; }

  /// One training step as a loop runs it; returns the loss before the update.
  double train_step(Optimizer& optimizer) {
    current_tape().reset();
    optimizer.zero_grad();
    Var loss = cross_entropy(w + b, targets);
    loss.backward();
    optimizer.step();
    return loss.item();
  }

  double loss() const {
    NoGradGuard no_grad;
    return cross_entropy(w + b, targets).item();
  }
};

/// Checks that one step lowers the loss and that `steps` steps at least halve it.
inline void check_loss_goes_down(const std::function<std::unique_ptr<Optimizer>(std::vector<Var>)>& make,
                                 int steps = 50) {
  for (DType dtype : {DType::f32, DType::f64}) {
    CAPTURE(dtype_name(dtype));
    Classifier model(dtype);
    std::unique_ptr<Optimizer> optimizer = make(model.parameters());
    const double initial = model.train_step(*optimizer);
    const double after_one = model.loss();
    CHECK(after_one < initial);
    for (int i = 1; i < steps; ++i) model.train_step(*optimizer);
    const double final_loss = model.loss();
    CAPTURE(initial);
    CAPTURE(final_loss);
    CHECK(std::isfinite(final_loss));
    CHECK(final_loss < 0.5 * initial);
  }
}

}  // namespace tg::test
