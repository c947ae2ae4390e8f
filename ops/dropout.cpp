#include "tapegrad/ops/dropout.hpp"

#include <fmt/format.h>
#include <xtensor/xoperation.hpp>

#include "tapegrad/ops/kernel.hpp"

namespace tg {

// y = x * m / (1 - p), m ~ Bernoulli(1 - p); dx = dy * m / (1 - p)
Var dropout(const Var& x, double p, bool training, Generator& gen) {
  kernel::check_defined("dropout", {{"x", x}});
  if (!(p >= 0.0 && p <= 1.0)) {
    throw Error(fmt::format("{}: probability p = {} is outside [0, 1]", op_context("dropout"), p));
  }
  if (!training || p == 0.0) return x;
  Mask keep = Mask::from_shape(x.shape());
  for (bool& k : keep) k = gen.uniform() >= p;
  const double scale = p < 1.0 ? 1.0 / (1.0 - p) : 0.0;
  auto apply = [&keep, scale](const auto& v) {
    using T = typename std::decay_t<decltype(v)>::value_type;
    return xt::where(keep, v * T(scale), T(0));
  };
  Tensor y = kernel::unary(x.value(), apply);
  return record("dropout", {x}, std::move(y), [keep = std::move(keep), scale](BackwardContext& c) {
    c.grad_input(0) = kernel::unary(c.grad_output(), [&](const auto& g) {
      using T = typename std::decay_t<decltype(g)>::value_type;
      return xt::where(keep, g * T(scale), T(0));
    });
  });
}

Var dropout(const Var& x, double p, bool training) { return dropout(x, p, training, default_generator()); }

}  // namespace tg
