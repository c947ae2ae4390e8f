#include "tapegrad/optim/adagrad.hpp"

#include <cmath>

namespace tg {

namespace {

// One parameter's update, in PyTorch's order of operations (grad.add(p,
// alpha=wd), addcmul_(g, g, value=1), sqrt().add_(eps), addcdiv_(g, std,
// value=-clr)). Coefficients are rounded to T once.
template <class T>
void adagrad_update(T* p, const T* grad, T* sum, std::size_t n, double decay, double epsilon, double clr) {
  const T weight_decay = static_cast<T>(decay);
  const T eps = static_cast<T>(epsilon);
  const T neg_clr = static_cast<T>(-clr);
  for (std::size_t i = 0; i < n; ++i) {
    T g = grad[i];
    if (decay != 0) g = g + weight_decay * p[i];
    sum[i] = sum[i] + g * g;
    p[i] = p[i] + neg_clr * (g / (std::sqrt(sum[i]) + eps));
  }
}

}  // namespace

Adagrad::Adagrad(std::vector<ParamGroup> groups, const AdagradOptions& options)
    : TypedOptimizer("Adagrad", std::move(groups), options) {
  check_non_negative("lr_decay", options.lr_decay);
  check_non_negative("initial_accumulator_value", options.initial_accumulator_value);
  check_non_negative("eps", options.eps);
}

void Adagrad::step() {
  for (std::size_t i = 0; i < params_.size(); ++i) {
    const Tensor* grad = gradient(i);
    if (grad == nullptr) continue;
    Tensor& value = params_[i].mutable_value();
    AdagradState& s = state_[i];
    if (s.step == 0) s.sum = Tensor::full(value.shape(), options_.initial_accumulator_value, value.dtype());
    check_state(i, s.sum, "sum");
    ++s.step;
    const GroupSettings& group = settings(i);
    const double clr = group.lr / (1 + static_cast<double>(s.step - 1) * options_.lr_decay);
    dispatch(value.dtype(), [&](auto zero) {
      using T = decltype(zero);
      adagrad_update<T>(value.array<T>().data(), grad->array<T>().data(), s.sum.array<T>().data(), value.size(),
                        group.weight_decay, options_.eps, clr);
    });
  }
}

std::vector<Optimizer::StateEntry> Adagrad::state_entries(std::size_t i) {
  return {{.name = "step", .count = &state_[i].step}, {.name = "sum", .tensor = &state_[i].sum}};
}

}  // namespace tg
