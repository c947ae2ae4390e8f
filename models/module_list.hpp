#pragma once
/// ModuleList: children named "0", "1", ... as torch.nn.ModuleList, so that a
/// stack's layers get PyTorch's names ("layers.0.linear1.weight"). It registers
/// modules that its owner keeps (typed, in the owner's own vector).

#include "tapegrad/models/module.hpp"

namespace tg {

class ModuleList : public Module {
 public:
  ModuleList() = default;
  /// Registers `m` (owned by the caller, who keeps it alive) under the next index.
  void append(Module& m);
  std::size_t size() const { return children().size(); }
};

}  // namespace tg
