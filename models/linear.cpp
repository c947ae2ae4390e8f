#include "tapegrad/models/linear.hpp"

#include <cmath>

#include <fmt/format.h>

#include "tapegrad/models/init.hpp"
#include "tapegrad/ops/linalg.hpp"

namespace tg {

Linear::Linear(const LinearOptions& options, Generator& gen) : options_(options) {
  const double bound = options.in_features > 0 ? 1.0 / std::sqrt(static_cast<double>(options.in_features)) : 0.0;
  register_parameter("weight", weight,
                     init::uniform({options.out_features, options.in_features}, -bound, bound, gen, options.dtype));
  if (options.bias)
    register_parameter("bias", bias, init::uniform({options.out_features}, -bound, bound, gen, options.dtype));
}

Var Linear::forward(const Var& x) const {
  if (x.dim() < 1 || x.shape().back() != options_.in_features) {
    throw ShapeError(fmt::format("Linear({}, {}): input {} must end in {}", options_.in_features, options_.out_features,
                                 shape_str(x.shape()), options_.in_features));
  }
  return options_.bias ? linear(x, weight, bias) : linear(x, weight);
}

}  // namespace tg
