#include "tapegrad/ops/loss.hpp"

#include <cmath>
#include <limits>
#include <type_traits>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "tapegrad/kernels/fast_math.hpp"
#include "tapegrad/ops/kernel.hpp"

namespace tg {
namespace {

constexpr double inf = std::numeric_limits<double>::infinity();

Shape to_shape(const Indices& targets) { return Shape(targets.shape().begin(), targets.shape().end()); }

// A loss's result from its per-row losses (0 where ignored), their total and how many count.
template <class T>
Tensor reduced(Array<T>&& losses, double total, std::size_t count, Reduction reduction) {
  switch (reduction) {
    case Reduction::none:
      return Tensor(std::move(losses));
    case Reduction::sum:
      return Tensor::scalar(total, dtype_of<T>());
    case Reduction::mean:
      break;
  }
  return Tensor::scalar(count == 0 ? 0.0 : total / static_cast<double>(count), dtype_of<T>());
}

// "[1, 2]": the multi-index of a target, for error messages.
std::string position_str(std::size_t flat, const Shape& shape) {
  std::vector<std::size_t> index(shape.size());
  for (std::size_t d = shape.size(); d-- > 0;) {
    index[d] = flat % shape[d];
    flat /= shape[d];
  }
  return fmt::format("[{}]", fmt::join(index, ", "));
}

void check_cross_entropy(const Var& logits, const Indices& targets, const CrossEntropyOptions& o) {
  const char* op = "cross_entropy";
  kernel::check_defined(op, {{"logits", logits}});
  Shape expected(logits.shape().begin(), logits.shape().end() - (logits.dim() > 0 ? 1 : 0));
  if (logits.dim() == 0 || to_shape(targets) != expected) {
    throw ShapeError(
        fmt::format("{}: logits {} and targets {} do not fit: logits are [..., C] (classes last) and "
                    "targets their shape without the class dimension",
                    op_context(op), shape_str(logits.shape()), shape_str(to_shape(targets))));
  }
  if (!(o.label_smoothing >= 0.0 && o.label_smoothing <= 1.0)) {
    throw Error(fmt::format("{}: label_smoothing {} is outside [0, 1]", op_context(op), o.label_smoothing));
  }
  const auto classes = static_cast<std::int64_t>(logits.shape().back());
  for (std::size_t r = 0; r < targets.size(); ++r) {
    std::int64_t t = targets.data()[r];
    if (t == o.ignore_index || (t >= 0 && t < classes)) continue;
    throw IndexError(
        fmt::format("{}: target {} at position {} is out of range for C = {} classes (valid: 0 to {}, "
                    "or ignore_index {})",
                    op_context(op), t, position_str(r, to_shape(targets)), classes, classes - 1, o.ignore_index));
  }
}

// What the backward needs besides the logits: one log-sum-exp per row.
struct Saved {
  Indices targets;
  std::vector<double> lse;  // -inf for a fully masked row
  std::size_t count = 0;    // targets not ignored
  CrossEntropyOptions options;
};

// sum_c e^(row_c - shift) for a float row whose maximum is shift: one vectorised
// pass (fast_math.hpp), the sum in double. `scratch` is reused from row to row.
double sum_exp_shifted(const float* row, std::size_t classes, float shift, std::vector<float>& scratch) {
  scratch.resize(classes);
  return fast::exp_shifted_sum(row, shift, scratch.data(), classes);
}

// loss_r = (1 - eps) (lse_r - x_rt) + eps mean_c(lse_r - x_rc); sums run in double.
template <class T>
Tensor cross_entropy_forward(const Array<T>& x, Saved& s) {
  const std::size_t rows = s.targets.size(), classes = x.shape().back();
  const double eps = s.options.label_smoothing;
  Array<T> losses = Array<T>::from_shape(to_shape(s.targets));
  s.lse.assign(rows, 0.0);
  std::vector<float> scratch;
  double total = 0;
  for (std::size_t r = 0; r < rows; ++r) {
    const std::int64_t t = s.targets.data()[r];
    losses.data()[r] = T(0);
    if (t == s.options.ignore_index) continue;
    ++s.count;
    const T* row = x.data() + r * classes;
    double m = -inf, sum = 0, loss = 0;
    if constexpr (std::is_same_v<T, float>) {
      m = static_cast<double>(fast::max(row, classes));
    } else {
      for (std::size_t c = 0; c < classes; ++c) m = std::max(m, static_cast<double>(row[c]));
    }
    if constexpr (std::is_same_v<T, float>) {
      if (m != -inf) sum = sum_exp_shifted(row, classes, static_cast<float>(m), scratch);
    } else {
      for (std::size_t c = 0; c < classes && m != -inf; ++c) sum += std::exp(row[c] - m);
    }
    const double lse = m == -inf ? -inf : m + std::log(sum);
    s.lse[r] = lse;
    // A fully masked row gives the target probability 0: loss +inf, not NaN.
    if (eps < 1) loss += (1 - eps) * (lse == -inf ? inf : lse - row[t]);
    if (eps > 0) {
      double smooth = 0;
      for (std::size_t c = 0; c < classes; ++c) smooth += lse == -inf ? inf : lse - row[c];
      loss += eps * smooth / static_cast<double>(classes);
    }
    losses.data()[r] = static_cast<T>(loss);
    total += loss;
  }
  return reduced(std::move(losses), total, s.count, s.options.reduction);
}

// dx_rc = (softmax(x_r)_c - ((1 - eps) [c == t_r] + eps / C)) * w_r, w_r the row's share of dy.
template <class T>
Array<T> cross_entropy_backward(const Array<T>& x, const Array<T>& dy, const Saved& s) {
  const std::size_t rows = s.targets.size(), classes = x.shape().back();
  const double eps = s.options.label_smoothing;
  Array<T> dx = Array<T>::from_shape(x.shape());
  for (std::size_t r = 0; r < rows; ++r) {
    const std::int64_t t = s.targets.data()[r];
    T* out = dx.data() + r * classes;
    if (t == s.options.ignore_index) {
      std::fill(out, out + classes, T(0));
      continue;
    }
    double w = s.options.reduction == Reduction::none ? dy.data()[r] : dy.data()[0];
    if (s.options.reduction == Reduction::mean) w /= static_cast<double>(s.count);
    const T* row = x.data() + r * classes;
    if constexpr (std::is_same_v<T, float>) {
      // softmax(x_r) = e^(x_r - lse_r), the exps vectorised, in one pass with the rest.
      const auto fw = static_cast<float>(w), off = static_cast<float>(eps / static_cast<double>(classes));
      if (s.lse[r] == -inf) {
        std::fill(out, out + classes, -off * fw);
      } else {
        fast::exp_shifted_affine(row, static_cast<float>(s.lse[r]), off, fw, out, classes);
      }
      if (t >= 0) out[t] -= static_cast<float>((1 - eps) * w);
      continue;
    }
    for (std::size_t c = 0; c < classes; ++c) {
      double p = s.lse[r] == -inf ? 0.0 : std::exp(row[c] - s.lse[r]);
      double target = eps / static_cast<double>(classes) + (static_cast<std::int64_t>(c) == t ? 1 - eps : 0.0);
      out[c] = static_cast<T>((p - target) * w);
    }
  }
  return dx;
}

}  // namespace

// loss = (1 - eps) (-log p_t) + eps mean_c(-log p_c), p = softmax(logits); dlogits = (p - smoothed_onehot) * w
Var cross_entropy(const Var& logits, const Indices& targets, const CrossEntropyOptions& options) {
  check_cross_entropy(logits, targets, options);
  Saved saved{targets, {}, 0, options};
  Tensor y = dispatch(logits.dtype(), [&](auto zero) -> Tensor {
    using T = decltype(zero);
    return cross_entropy_forward<T>(logits.value().array<T>(), saved);
  });
  return record("cross_entropy", {logits}, std::move(y), [saved = std::move(saved)](BackwardContext& c) {
    c.grad_input(0) = dispatch(c.input(0).dtype(), [&](auto zero) -> Tensor {
      using T = decltype(zero);
      return Tensor(cross_entropy_backward<T>(c.input(0).array<T>(), c.grad_output().array<T>(), saved));
    });
  });
}

namespace {

// log softmax(row / T) into out, in double.
template <class T>
void log_softmax_at(const T* row, std::size_t classes, double temperature, std::vector<double>& out) {
  out.resize(classes);
  double m = -inf;
  for (std::size_t c = 0; c < classes; ++c) m = std::max(m, static_cast<double>(row[c]) / temperature);
  double sum = 0;
  for (std::size_t c = 0; c < classes; ++c) sum += std::exp(static_cast<double>(row[c]) / temperature - m);
  const double lse = m + std::log(sum);
  for (std::size_t c = 0; c < classes; ++c) out[c] = static_cast<double>(row[c]) / temperature - lse;
}

}  // namespace

// loss_r = T^2 sum_c q_c (log q_c - log p_c); dstudent_rc = T (p_c - q_c) w_r
Var distillation_loss(const Var& student_logits, const Tensor& teacher_logits, const Indices& targets,
                      const DistillationOptions& options) {
  const char* op = "distillation_loss";
  kernel::check_defined(op, {{"student_logits", student_logits}});
  const Shape& shape = student_logits.shape();
  if (!teacher_logits.defined() || teacher_logits.shape() != shape || shape.empty() ||
      to_shape(targets) != Shape(shape.begin(), shape.end() - 1)) {
    throw ShapeError(fmt::format(
        "{}: needs student and teacher logits [..., C] of one shape and targets [...], got "
        "student {}, teacher {}, targets {}",
        op_context(op), shape_str(shape), teacher_logits.defined() ? shape_str(teacher_logits.shape()) : "undefined",
        shape_str(to_shape(targets))));
  }
  if (!(options.temperature > 0) || !std::isfinite(options.temperature)) {
    throw Error(fmt::format("{}: temperature {} must be positive", op_context(op), options.temperature));
  }
  const std::size_t classes = shape.back(), rows = targets.size();
  const double t = options.temperature;
  const Tensor teacher = teacher_logits.to(student_logits.dtype());
  // Per row: the student's log p and the teacher's q, kept for the backward as p - q.
  auto difference = std::make_shared<std::vector<double>>(rows * classes, 0.0);
  std::size_t count = 0;
  Tensor y = dispatch(student_logits.dtype(), [&](auto zero) -> Tensor {
    using T = decltype(zero);
    const T* s = student_logits.value().array<T>().data();
    const T* q = teacher.array<T>().data();
    Array<T> losses = Array<T>::from_shape(to_shape(targets));
    std::vector<double> log_p, log_q;
    double total = 0;
    for (std::size_t r = 0; r < rows; ++r) {
      losses.data()[r] = T(0);
      if (targets.data()[r] == options.ignore_index) continue;
      ++count;
      log_softmax_at(s + r * classes, classes, t, log_p);
      log_softmax_at(q + r * classes, classes, t, log_q);
      double kl = 0;
      for (std::size_t c = 0; c < classes; ++c) {
        const double qc = std::exp(log_q[c]);
        if (qc > 0) kl += qc * (log_q[c] - log_p[c]);
        (*difference)[r * classes + c] = std::exp(log_p[c]) - qc;
      }
      losses.data()[r] = static_cast<T>(t * t * kl);
      total += t * t * kl;
    }
    return reduced(std::move(losses), total, count, options.reduction);
  });
  return record("distillation_loss", {student_logits}, std::move(y),
                [difference, targets, options, count, rows, classes](BackwardContext& c) {
                  c.grad_input(0) = dispatch(c.input(0).dtype(), [&](auto zero) -> Tensor {
                    using T = decltype(zero);
                    const T* dy = c.grad_output().array<T>().data();
                    Array<T> dx = Array<T>::from_shape(c.input(0).shape());
                    for (std::size_t r = 0; r < rows; ++r) {
                      T* out = dx.data() + r * classes;
                      if (targets.data()[r] == options.ignore_index) {
                        std::fill(out, out + classes, T(0));
                        continue;
                      }
                      double w = options.reduction == Reduction::none ? dy[r] : dy[0];
                      if (options.reduction == Reduction::mean) w /= static_cast<double>(count);
                      for (std::size_t k = 0; k < classes; ++k) {
                        out[k] = static_cast<T>(options.temperature * (*difference)[r * classes + k] * w);
                      }
                    }
                    return Tensor(std::move(dx));
                  });
                });
}

}  // namespace tg
