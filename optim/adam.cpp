#include "tapegrad/optim/adam.hpp"

#include <cmath>
#include <type_traits>

#include <fmt/format.h>

#include "tapegrad/kernels/fast_math.hpp"

namespace tg {

namespace {

// One parameter's update, in PyTorch's order of operations (mul_ then add_,
// addcmul_, sqrt / bias_correction2_sqrt + eps, addcdiv_), except that the
// division by bias_correction2_sqrt is a product with its reciprocal (within an
// ulp of it): a division and a square root per element bound the vectorised loop,
// and two divisions and a root took a third longer. The coefficients
// are computed in double and rounded to T once, as PyTorch passes Python
// floats to kernels of the tensor's dtype. step_size = lr / (1 - beta1^t).
//
// The loop is compiled once per case (weight decay or not, AMSGrad or not), so that
// the common one has no branch inside and vectorises.
template <class T, bool kDecay, bool kAmsgrad>
void adam_loop(T* p, const T* grad, T* m, T* v, T* vmax, std::size_t n, T weight_decay, T beta1, T beta2,
               T one_minus_beta1, T one_minus_beta2, T eps, T inv_correction2, T neg_step_size) {
  for (std::size_t i = 0; i < n; ++i) {
    T g = grad[i];
    if constexpr (kDecay) g = g + weight_decay * p[i];
    const T mi = m[i] * beta1 + one_minus_beta1 * g;
    const T vi = v[i] * beta2 + one_minus_beta2 * g * g;
    m[i] = mi;
    v[i] = vi;
    T second = vi;
    if constexpr (kAmsgrad) {
      // torch.maximum propagates NaN.
      if (std::isnan(second) || second > vmax[i]) vmax[i] = second;
      second = vmax[i];
    }
    const T denom = std::sqrt(second) * inv_correction2 + eps;
    p[i] = p[i] + neg_step_size * (mi / denom);
  }
}

// The float loop compiled for AVX-512 and for AVX2 as well (the library's baseline is SSE2:
// 4 floats at a time), chosen by the CPU's features as fast_math's loops are.
template <class T, bool kDecay, bool kAmsgrad, class... Args>
__attribute__((target("avx2,fma"))) void adam_loop_avx2(Args... args) {
  adam_loop<T, kDecay, kAmsgrad>(args...);
}
template <class T, bool kDecay, bool kAmsgrad, class... Args>
__attribute__((target("avx512f,avx512vl,avx512dq,avx512bw,fma"))) void adam_loop_avx512(Args... args) {
  adam_loop<T, kDecay, kAmsgrad>(args...);
}
template <class T, bool kDecay, bool kAmsgrad, class... Args>
void adam_loop_best(Args... args) {
  if constexpr (std::is_same_v<T, float>) {
    switch (fast::widest_isa()) {
      case fast::Isa::avx512: return adam_loop_avx512<T, kDecay, kAmsgrad>(args...);
      case fast::Isa::avx2: return adam_loop_avx2<T, kDecay, kAmsgrad>(args...);
      case fast::Isa::baseline: break;
    }
  }
  adam_loop<T, kDecay, kAmsgrad>(args...);
}

template <class T>
void adam_update(T* p, const T* grad, T* m, T* v, T* vmax, std::size_t n, const AdamOptions& o, double decay,
                 double step_size, double bias_correction2_sqrt) {
  const T weight_decay = static_cast<T>(decay);
  const T beta1 = static_cast<T>(o.beta1);
  const T beta2 = static_cast<T>(o.beta2);
  const T one_minus_beta1 = static_cast<T>(1 - o.beta1);
  const T one_minus_beta2 = static_cast<T>(1 - o.beta2);
  const T eps = static_cast<T>(o.eps);
  const T inv_correction2 = static_cast<T>(1 / bias_correction2_sqrt);
  const T neg_step_size = static_cast<T>(-step_size);
  auto run = [&](auto decays, auto amsgrad) {
    adam_loop_best<T, decltype(decays)::value, decltype(amsgrad)::value>(
        p, grad, m, v, vmax, n, weight_decay, beta1, beta2, one_minus_beta1, one_minus_beta2, eps, inv_correction2,
        neg_step_size);
  };
  const bool decays = decay != 0, amsgrad = vmax != nullptr;
  if (decays && amsgrad) run(std::true_type{}, std::true_type{});
  else if (decays) run(std::true_type{}, std::false_type{});
  else if (amsgrad) run(std::false_type{}, std::true_type{});
  else run(std::false_type{}, std::false_type{});
}

}  // namespace

Adam::Adam(std::vector<Var> params, const AdamOptions& options)
    : Optimizer("Adam", std::move(params), options.lr, options.weight_decay),
      options_(options),
      state_(parameters().size()) {
  check_options();
}

Adam::Adam(std::vector<ParamGroup> groups, const AdamOptions& options)
    : Optimizer("Adam", std::move(groups), options.lr, options.weight_decay),
      options_(options),
      state_(parameters().size()) {
  check_options();
}

void Adam::check_options() const {
  const AdamOptions& options = options_;
  check_non_negative("eps", options.eps);
  for (auto [option, beta] : {std::pair{"beta1", options.beta1}, std::pair{"beta2", options.beta2}}) {
    if (!(beta >= 0 && beta < 1)) throw Error(fmt::format("Adam: invalid {} = {}; it must be in [0, 1)", option, beta));
  }
}

void Adam::step() {
  for (std::size_t i = 0; i < params_.size(); ++i) {
    const Tensor* grad = gradient(i);
    if (grad == nullptr) continue;
    Tensor& value = params_[i].mutable_value();
    AdamState& s = state_[i];
    if (s.step == 0) {
      s.exp_avg = Tensor::zeros(value.shape(), value.dtype());
      s.exp_avg_sq = Tensor::zeros(value.shape(), value.dtype());
      if (options_.amsgrad) s.max_exp_avg_sq = Tensor::zeros(value.shape(), value.dtype());
    }
    check_state(i, s.exp_avg, "exp_avg");
    ++s.step;
    const double t = static_cast<double>(s.step);
    const double step_size = settings(i).lr / (1 - std::pow(options_.beta1, t));
    const double bias_correction2_sqrt = std::sqrt(1 - std::pow(options_.beta2, t));
    dispatch(value.dtype(), [&](auto zero) {
      using T = decltype(zero);
      T* vmax = options_.amsgrad ? s.max_exp_avg_sq.array<T>().data() : nullptr;
      adam_update<T>(value.array<T>().data(), grad->array<T>().data(), s.exp_avg.array<T>().data(),
                     s.exp_avg_sq.array<T>().data(), vmax, value.size(), options_, settings(i).weight_decay, step_size,
                     bias_correction2_sqrt);
    });
  }
}

AdamOptions Adam::options() const {
  AdamOptions o = options_;
  o.lr = lr();
  o.weight_decay = group_weight_decay(0);
  return o;
}

const AdamState& Adam::state(std::size_t i) const {
  check_index(i);
  return state_[i];
}

const AdamState& Adam::state(const Var& param) const { return state_[index_of(param)]; }

std::vector<Optimizer::StateEntry> Adam::state_entries(std::size_t i) {
  AdamState& s = state_[i];
  std::vector<StateEntry> entries = {{.name = "step", .count = &s.step},
                                     {.name = "exp_avg", .tensor = &s.exp_avg},
                                     {.name = "exp_avg_sq", .tensor = &s.exp_avg_sq}};
  if (options_.amsgrad) entries.push_back({.name = "max_exp_avg_sq", .tensor = &s.max_exp_avg_sq});
  return entries;
}

}  // namespace tg
