#include "tapegrad/optim/adamw.hpp"

#include <cmath>

#include <fmt/format.h>

namespace tg {

namespace {

// One parameter's update, in PyTorch's order of operations (mul_ by the decay,
// then Adam's mul_/add_, addcmul_, sqrt / bias_correction2_sqrt + eps,
// addcdiv_). Coefficients are computed in double and rounded to T once.
template <class T>
void adamw_update(T* p, const T* grad, T* m, T* v, T* vmax, std::size_t n, const AdamWOptions& o, double decay,
                  double step_size, double bias_correction2_sqrt) {
  const T keep = static_cast<T>(decay);
  const T beta1 = static_cast<T>(o.beta1);
  const T beta2 = static_cast<T>(o.beta2);
  const T one_minus_beta1 = static_cast<T>(1 - o.beta1);
  const T one_minus_beta2 = static_cast<T>(1 - o.beta2);
  const T eps = static_cast<T>(o.eps);
  const T correction2 = static_cast<T>(bias_correction2_sqrt);
  const T neg_step_size = static_cast<T>(-step_size);
  for (std::size_t i = 0; i < n; ++i) {
    const T g = grad[i];
    p[i] = p[i] * keep;
    m[i] = m[i] * beta1 + one_minus_beta1 * g;
    v[i] = v[i] * beta2 + one_minus_beta2 * g * g;
    T second = v[i];
    if (vmax != nullptr) {
      // torch.maximum propagates NaN.
      if (std::isnan(second) || second > vmax[i]) vmax[i] = second;
      second = vmax[i];
    }
    const T denom = std::sqrt(second) / correction2 + eps;
    p[i] = p[i] + neg_step_size * (m[i] / denom);
  }
}

}  // namespace

AdamW::AdamW(std::vector<Var> params, const AdamWOptions& options)
    : Optimizer("AdamW", std::move(params), options.lr, options.weight_decay),
      options_(options),
      state_(parameters().size()) {
  check_options();
}

AdamW::AdamW(std::vector<ParamGroup> groups, const AdamWOptions& options)
    : Optimizer("AdamW", std::move(groups), options.lr, options.weight_decay),
      options_(options),
      state_(parameters().size()) {
  check_options();
}

void AdamW::check_options() const {
  check_non_negative("eps", options_.eps);
  for (auto [option, beta] : {std::pair{"beta1", options_.beta1}, std::pair{"beta2", options_.beta2}}) {
    if (!(beta >= 0 && beta < 1))
      throw Error(fmt::format("AdamW: invalid {} = {}; it must be in [0, 1)", option, beta));
  }
}

void AdamW::step() {
  for (std::size_t i = 0; i < params_.size(); ++i) {
    const Tensor* grad = gradient(i);
    if (grad == nullptr) continue;
    Tensor& value = params_[i].mutable_value();
    AdamWState& s = state_[i];
    if (s.step == 0) {
      s.exp_avg = Tensor::zeros(value.shape(), value.dtype());
      s.exp_avg_sq = Tensor::zeros(value.shape(), value.dtype());
      if (options_.amsgrad) s.max_exp_avg_sq = Tensor::zeros(value.shape(), value.dtype());
    }
    check_state(i, s.exp_avg, "exp_avg");
    ++s.step;
    const GroupSettings& group = settings(i);
    const double t = static_cast<double>(s.step);
    const double step_size = group.lr / (1 - std::pow(options_.beta1, t));
    const double bias_correction2_sqrt = std::sqrt(1 - std::pow(options_.beta2, t));
    dispatch(value.dtype(), [&](auto zero) {
      using T = decltype(zero);
      T* vmax = options_.amsgrad ? s.max_exp_avg_sq.array<T>().data() : nullptr;
      adamw_update<T>(value.array<T>().data(), grad->array<T>().data(), s.exp_avg.array<T>().data(),
                      s.exp_avg_sq.array<T>().data(), vmax, value.size(), options_, 1 - group.lr * group.weight_decay,
                      step_size, bias_correction2_sqrt);
    });
  }
}

AdamWOptions AdamW::options() const {
  AdamWOptions o = options_;
  o.lr = lr();
  o.weight_decay = group_weight_decay(0);
  return o;
}

const AdamWState& AdamW::state(std::size_t i) const {
  check_index(i);
  return state_[i];
}

const AdamWState& AdamW::state(const Var& param) const { return state_[index_of(param)]; }

std::vector<Optimizer::StateEntry> AdamW::state_entries(std::size_t i) {
  AdamWState& s = state_[i];
  std::vector<StateEntry> entries = {{.name = "step", .count = &s.step},
                                     {.name = "exp_avg", .tensor = &s.exp_avg},
                                     {.name = "exp_avg_sq", .tensor = &s.exp_avg_sq}};
  if (options_.amsgrad) entries.push_back({.name = "max_exp_avg_sq", .tensor = &s.max_exp_avg_sq});
  return entries;
}

}  // namespace tg
