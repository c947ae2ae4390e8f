#include "tapegrad/optim/penalty.hpp"

#include <fmt/format.h>

#include "tapegrad/ops/elementwise.hpp"
#include "tapegrad/ops/reduce.hpp"

namespace tg {

Var l1_penalty(const std::vector<Var>& params, double lambda) {
  if (!(lambda >= 0)) throw Error(fmt::format("l1_penalty: invalid lambda = {}; it must be >= 0", lambda));
  if (params.empty()) throw Error("l1_penalty: got an empty parameter list");
  Var total;
  for (std::size_t i = 0; i < params.size(); ++i) {
    if (!params[i].defined()) throw Error(fmt::format("l1_penalty: parameter {} is an undefined Var", i));
    // y = sum |p|; dp = sign(p) dy
    Var term = sum(abs(params[i]));
    total = total.defined() ? total + term : term;
  }
  return total * lambda;
}

}  // namespace tg
