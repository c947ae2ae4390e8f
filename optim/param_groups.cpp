#include "tapegrad/optim/param_groups.hpp"

#include <fmt/format.h>

namespace tg {

bool is_no_decay(const NamedVar& param) { return param.name.ends_with("bias") || param.var.dim() <= 1; }

std::vector<ParamGroup> weight_decay_groups(const Module& m, double weight_decay) {
  if (!(weight_decay >= 0)) {
    throw Error(fmt::format("weight_decay_groups: invalid weight_decay = {}; it must be >= 0", weight_decay));
  }
  std::vector<ParamGroup> groups(2);
  groups[0].weight_decay = weight_decay;
  groups[1].weight_decay = 0.0;
  for (const NamedVar& p : m.named_parameters()) groups[is_no_decay(p) ? 1 : 0].params.push_back(p.var);
  return groups;
}

}  // namespace tg
