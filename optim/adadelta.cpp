#include "tapegrad/optim/adadelta.hpp"

#include <cmath>

namespace tg {

namespace {

// One parameter's update, in PyTorch's order of operations (grad.add(p,
// alpha=wd), mul_/addcmul_, add(eps).sqrt_(), u.add(eps).sqrt_().div_(std).mul_(g),
// mul_/addcmul_, add_(d, alpha=-lr)). Coefficients are rounded to T once.
template <class T>
void adadelta_update(T* p, const T* grad, T* v, T* u, std::size_t n, const AdadeltaOptions& o,
                     const GroupSettings& group) {
  const T weight_decay = static_cast<T>(group.weight_decay);
  const T rho = static_cast<T>(o.rho);
  const T one_minus_rho = static_cast<T>(1 - o.rho);
  const T eps = static_cast<T>(o.eps);
  const T neg_lr = static_cast<T>(-group.lr);
  for (std::size_t i = 0; i < n; ++i) {
    T g = grad[i];
    if (group.weight_decay != 0) g = g + weight_decay * p[i];
    v[i] = v[i] * rho + one_minus_rho * g * g;
    const T std_dev = std::sqrt(v[i] + eps);
    const T delta = std::sqrt(u[i] + eps) / std_dev * g;
    u[i] = u[i] * rho + one_minus_rho * delta * delta;
    p[i] = p[i] + neg_lr * delta;
  }
}

}  // namespace

Adadelta::Adadelta(std::vector<ParamGroup> groups, const AdadeltaOptions& options)
    : TypedOptimizer("Adadelta", std::move(groups), options) {
  check_range("rho", options.rho, 0, 1);
  check_non_negative("eps", options.eps);
}

void Adadelta::step() {
  for (std::size_t i = 0; i < params_.size(); ++i) {
    const Tensor* grad = gradient(i);
    if (grad == nullptr) continue;
    Tensor& value = params_[i].mutable_value();
    AdadeltaState& s = state_[i];
    if (s.step == 0) {
      s.square_avg = Tensor::zeros(value.shape(), value.dtype());
      s.acc_delta = Tensor::zeros(value.shape(), value.dtype());
    }
    check_state(i, s.square_avg, "square_avg");
    ++s.step;
    dispatch(value.dtype(), [&](auto zero) {
      using T = decltype(zero);
      adadelta_update<T>(value.array<T>().data(), grad->array<T>().data(), s.square_avg.array<T>().data(),
                         s.acc_delta.array<T>().data(), value.size(), options_, settings(i));
    });
  }
}

std::vector<Optimizer::StateEntry> Adadelta::state_entries(std::size_t i) {
  AdadeltaState& s = state_[i];
  return {{.name = "step", .count = &s.step},
          {.name = "square_avg", .tensor = &s.square_avg},
          {.name = "acc_delta", .tensor = &s.acc_delta}};
}

}  // namespace tg
