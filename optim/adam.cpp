#include "tapegrad/optim/adam.hpp"

#include <cmath>
#include <type_traits>

#include <fmt/format.h>

#include "tapegrad/kernels/fast_math.hpp"

namespace tg {

namespace {

// How weight decay enters the update: not at all (weight_decay 0), as an L2
// term added to the gradient, or decoupled (p shrinks by lr * weight_decay first).
enum class Decay { none, l2, decoupled };

// The scalar coefficients of one parameter's update, computed in double and
// rounded to T once, as PyTorch passes Python floats to kernels of the tensor's dtype.
template <class T>
struct Coefficients {
  T weight_decay;  // l2
  T keep;          // decoupled: 1 - lr * weight_decay
  T beta1, beta2, one_minus_beta1, one_minus_beta2, eps;
  T correction2;      // decoupled: sqrt(1 - beta2^t)
  T inv_correction2;  // none and l2: 1 / sqrt(1 - beta2^t)
  T neg_step_size;    // -lr / (1 - beta1^t)
};

// One parameter's update, in PyTorch's order of operations (the decay, mul_ then
// add_, addcmul_, sqrt / bias_correction2_sqrt + eps, addcdiv_), compiled once per
// case so that the common one has no branch inside and vectorises. Without decoupled
// decay, the division by bias_correction2_sqrt is a product with its reciprocal
// (within an ulp of it): a division and a square root per element bound the
// vectorised loop. The decoupled case divides, as PyTorch does, and runs only the
// baseline loop (no AVX2 or AVX-512 copy, whose fused multiply-adds round
// differently), so that runs resumed from AdamW checkpoints of earlier versions
// continue bit for bit. Always inlined, so that the AVX2 and AVX-512 copies below
// compile it for their instruction set (a call would run the baseline code).
template <class T, Decay kDecay, bool kAmsgrad>
[[gnu::always_inline]] inline void adam_loop(T* p, const T* grad, T* m, T* v, T* vmax, std::size_t n,
                                             Coefficients<T> c) {
  for (std::size_t i = 0; i < n; ++i) {
    T g = grad[i];
    if constexpr (kDecay == Decay::l2) g = g + c.weight_decay * p[i];
    if constexpr (kDecay == Decay::decoupled) p[i] = p[i] * c.keep;
    const T mi = m[i] * c.beta1 + c.one_minus_beta1 * g;
    const T vi = v[i] * c.beta2 + c.one_minus_beta2 * g * g;
    m[i] = mi;
    v[i] = vi;
    T second = vi;
    if constexpr (kAmsgrad) {
      // torch.maximum propagates NaN.
      if (std::isnan(second) || second > vmax[i]) vmax[i] = second;
      second = vmax[i];
    }
    T denom;
    if constexpr (kDecay == Decay::decoupled) {
      denom = std::sqrt(second) / c.correction2 + c.eps;
    } else {
      denom = std::sqrt(second) * c.inv_correction2 + c.eps;
    }
    p[i] = p[i] + c.neg_step_size * (mi / denom);
  }
}

// The float loop compiled for AVX-512 and for AVX2 as well (the library's baseline is SSE2:
// 4 floats at a time), chosen by the CPU's features as fast_math's loops are.
template <class T, Decay kDecay, bool kAmsgrad, class... Args>
__attribute__((target("avx2,fma"))) void adam_loop_avx2(Args... args) {
  adam_loop<T, kDecay, kAmsgrad>(args...);
}
template <class T, Decay kDecay, bool kAmsgrad, class... Args>
__attribute__((target("avx512f,avx512vl,avx512dq,avx512bw,fma"))) void adam_loop_avx512(Args... args) {
  adam_loop<T, kDecay, kAmsgrad>(args...);
}
template <class T, Decay kDecay, bool kAmsgrad, class... Args>
void adam_loop_best(Args... args) {
  if constexpr (std::is_same_v<T, float> && kDecay != Decay::decoupled) {
    switch (fast::widest_isa()) {
      case fast::Isa::avx512:
        return adam_loop_avx512<T, kDecay, kAmsgrad>(args...);
      case fast::Isa::avx2:
        return adam_loop_avx2<T, kDecay, kAmsgrad>(args...);
      case fast::Isa::baseline:
        break;
    }
  }
  adam_loop<T, kDecay, kAmsgrad>(args...);
}

template <class T>
void adam_update(T* p, const T* grad, T* m, T* v, T* vmax, std::size_t n, const AdamOptions& o,
                 const GroupSettings& group, double step_size, double bias_correction2_sqrt) {
  const Coefficients<T> c{.weight_decay = static_cast<T>(group.weight_decay),
                          .keep = static_cast<T>(1 - group.lr * group.weight_decay),
                          .beta1 = static_cast<T>(o.beta1),
                          .beta2 = static_cast<T>(o.beta2),
                          .one_minus_beta1 = static_cast<T>(1 - o.beta1),
                          .one_minus_beta2 = static_cast<T>(1 - o.beta2),
                          .eps = static_cast<T>(o.eps),
                          .correction2 = static_cast<T>(bias_correction2_sqrt),
                          .inv_correction2 = static_cast<T>(1 / bias_correction2_sqrt),
                          .neg_step_size = static_cast<T>(-step_size)};
  auto run = [&](auto decay, auto amsgrad) {
    adam_loop_best<T, decltype(decay)::value, decltype(amsgrad)::value>(p, grad, m, v, vmax, n, c);
  };
  using None = std::integral_constant<Decay, Decay::none>;
  using L2 = std::integral_constant<Decay, Decay::l2>;
  using Decoupled = std::integral_constant<Decay, Decay::decoupled>;
  // A decoupled group without decay (the biases) stays in the decoupled loop, whose
  // arithmetic AdamW's results depend on; there p * 1 is p.
  const Decay decay = o.decoupled_weight_decay ? Decay::decoupled : group.weight_decay != 0 ? Decay::l2 : Decay::none;
  const bool amsgrad = vmax != nullptr;
  switch (decay) {
    case Decay::none:
      return amsgrad ? run(None{}, std::true_type{}) : run(None{}, std::false_type{});
    case Decay::l2:
      return amsgrad ? run(L2{}, std::true_type{}) : run(L2{}, std::false_type{});
    case Decay::decoupled:
      return amsgrad ? run(Decoupled{}, std::true_type{}) : run(Decoupled{}, std::false_type{});
  }
}

}  // namespace

Adam::Adam(const char* name, std::vector<ParamGroup> groups, const AdamOptions& options)
    : TypedOptimizer(name, std::move(groups), options) {
  check_non_negative("eps", options.eps);
  for (auto [option, beta] : {std::pair{"beta1", options.beta1}, std::pair{"beta2", options.beta2}}) {
    if (!(beta >= 0 && beta < 1)) {
      throw Error(fmt::format("{}: invalid {} = {}; it must be in [0, 1)", name, option, beta));
    }
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
    const GroupSettings& group = settings(i);
    const double t = static_cast<double>(s.step);
    const double step_size = group.lr / (1 - std::pow(options_.beta1, t));
    const double bias_correction2_sqrt = std::sqrt(1 - std::pow(options_.beta2, t));
    dispatch(value.dtype(), [&](auto zero) {
      using T = decltype(zero);
      T* vmax = options_.amsgrad ? s.max_exp_avg_sq.array<T>().data() : nullptr;
      adam_update<T>(value.array<T>().data(), grad->array<T>().data(), s.exp_avg.array<T>().data(),
                     s.exp_avg_sq.array<T>().data(), vmax, value.size(), options_, group, step_size,
                     bias_correction2_sqrt);
    });
  }
}

std::vector<Optimizer::StateEntry> Adam::state_entries(std::size_t i) {
  AdamState& s = state_[i];
  std::vector<StateEntry> entries = {{.name = "step", .count = &s.step},
                                     {.name = "exp_avg", .tensor = &s.exp_avg},
                                     {.name = "exp_avg_sq", .tensor = &s.exp_avg_sq}};
  if (options_.amsgrad) entries.push_back({.name = "max_exp_avg_sq", .tensor = &s.max_exp_avg_sq});
  return entries;
}

}  // namespace tg
