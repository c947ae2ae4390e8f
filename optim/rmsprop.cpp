#include "tapegrad/optim/rmsprop.hpp"

#include <cmath>

namespace tg {

namespace {

// One parameter's update, in PyTorch's order of operations (grad.add(p,
// alpha=wd), mul_/addcmul_, addcmul(a, a, value=-1).sqrt_(), add_(eps), then
// mul_/addcdiv_ and add_ or addcdiv_). Coefficients are rounded to T once.
template <class T>
void rmsprop_update(T* p, const T* grad, T* v, T* a, T* b, std::size_t n, const RmspropOptions& o,
                    const GroupSettings& group) {
  const T weight_decay = static_cast<T>(group.weight_decay);
  const T alpha = static_cast<T>(o.alpha);
  const T one_minus_alpha = static_cast<T>(1 - o.alpha);
  const T eps = static_cast<T>(o.eps);
  const T momentum = static_cast<T>(o.momentum);
  const T neg_lr = static_cast<T>(-group.lr);
  for (std::size_t i = 0; i < n; ++i) {
    T g = grad[i];
    if (group.weight_decay != 0) g = g + weight_decay * p[i];
    v[i] = v[i] * alpha + one_minus_alpha * g * g;
    T avg;
    if (a != nullptr) {
      a[i] = a[i] * alpha + one_minus_alpha * g;
      avg = std::sqrt(v[i] + T(-1) * a[i] * a[i]);
    } else {
      avg = std::sqrt(v[i]);
    }
    avg = avg + eps;
    if (b != nullptr) {
      b[i] = b[i] * momentum + g / avg;
      p[i] = p[i] + neg_lr * b[i];
    } else {
      p[i] = p[i] + neg_lr * (g / avg);
    }
  }
}

}  // namespace

Rmsprop::Rmsprop(std::vector<ParamGroup> groups, const RmspropOptions& options)
    : TypedOptimizer("Rmsprop", std::move(groups), options) {
  check_non_negative("alpha", options.alpha);
  check_non_negative("eps", options.eps);
  check_non_negative("momentum", options.momentum);
}

void Rmsprop::step() {
  for (std::size_t i = 0; i < params_.size(); ++i) {
    const Tensor* grad = gradient(i);
    if (grad == nullptr) continue;
    Tensor& value = params_[i].mutable_value();
    RmspropState& s = state_[i];
    if (s.step == 0) {
      s.square_avg = Tensor::zeros(value.shape(), value.dtype());
      if (options_.momentum > 0) s.momentum_buffer = Tensor::zeros(value.shape(), value.dtype());
      if (options_.centered) s.grad_avg = Tensor::zeros(value.shape(), value.dtype());
    }
    check_state(i, s.square_avg, "square_avg");
    ++s.step;
    dispatch(value.dtype(), [&](auto zero) {
      using T = decltype(zero);
      T* a = options_.centered ? s.grad_avg.array<T>().data() : nullptr;
      T* b = options_.momentum > 0 ? s.momentum_buffer.array<T>().data() : nullptr;
      rmsprop_update<T>(value.array<T>().data(), grad->array<T>().data(), s.square_avg.array<T>().data(), a, b,
                        value.size(), options_, settings(i));
    });
  }
}

std::vector<Optimizer::StateEntry> Rmsprop::state_entries(std::size_t i) {
  RmspropState& s = state_[i];
  std::vector<StateEntry> entries = {{.name = "step", .count = &s.step},
                                     {.name = "square_avg", .tensor = &s.square_avg}};
  if (options_.momentum > 0) entries.push_back({.name = "momentum_buffer", .tensor = &s.momentum_buffer});
  if (options_.centered) entries.push_back({.name = "grad_avg", .tensor = &s.grad_avg});
  return entries;
}

}  // namespace tg
