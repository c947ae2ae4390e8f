#include "tapegrad/optim/sgd.hpp"

#include <cmath>

#include <fmt/format.h>

namespace tg {

namespace {

// One parameter's update, in PyTorch's order of operations. The coefficients
// are rounded to T once, as PyTorch's kernels take their scalars in the
// tensor's dtype. `first` fills the momentum buffer with the gradient.
template <class T>
void sgd_update(T* p, const T* grad, T* buffer, std::size_t n, const SgdOptions& o, const GroupSettings& group,
                bool first) {
  const T weight_decay = static_cast<T>(group.weight_decay);
  const T momentum = static_cast<T>(o.momentum);
  const T keep = static_cast<T>(1 - o.dampening);
  const T neg_lr = static_cast<T>(-group.lr);
  for (std::size_t i = 0; i < n; ++i) {
    T d = grad[i];
    if (group.weight_decay != 0) d = d + weight_decay * p[i];
    if (buffer != nullptr) {
      buffer[i] = first ? d : buffer[i] * momentum + keep * d;
      d = o.nesterov ? d + momentum * buffer[i] : buffer[i];
    }
    p[i] = p[i] + neg_lr * d;
  }
}

}  // namespace

Sgd::Sgd(std::vector<ParamGroup> groups, const SgdOptions& options)
    : TypedOptimizer("Sgd", std::move(groups), options) {
  check_non_negative("momentum", options.momentum);
  if (std::isnan(options.dampening)) throw Error("Sgd: invalid dampening = nan");
  if (options.nesterov && (options.momentum <= 0 || options.dampening != 0)) {
    throw Error(
        fmt::format("Sgd: nesterov momentum requires momentum > 0 and dampening == 0 (got momentum = {}, "
                    "dampening = {})",
                    options.momentum, options.dampening));
  }
}

void Sgd::step() {
  for (std::size_t i = 0; i < params_.size(); ++i) {
    const Tensor* grad = gradient(i);
    if (grad == nullptr) continue;
    Tensor& value = params_[i].mutable_value();
    Tensor& buffer = state_[i].momentum_buffer;
    const bool first = options_.momentum != 0 && !buffer.defined();
    if (first) buffer = Tensor::empty(value.shape(), value.dtype());
    if (buffer.defined()) check_state(i, buffer, "momentum_buffer");
    dispatch(value.dtype(), [&](auto zero) {
      using T = decltype(zero);
      T* momentum = buffer.defined() ? buffer.array<T>().data() : nullptr;
      sgd_update<T>(value.array<T>().data(), grad->array<T>().data(), momentum, value.size(), options_, settings(i),
                    first);
    });
  }
}

std::vector<Optimizer::StateEntry> Sgd::state_entries(std::size_t i) {
  if (options_.momentum == 0) return {};
  return {{.name = "momentum_buffer", .tensor = &state_[i].momentum_buffer}};
}

}  // namespace tg
