#pragma once
/// Dropout as a module: active in train(), the identity in eval().

#include "tapegrad/models/module.hpp"
#include "tapegrad/ops/dropout.hpp"

namespace tg {

struct DropoutOptions {
  double p = 0.5;  ///< probability of zeroing an element, in [0, 1]
};

class Dropout : public Module {
 public:
  /// Masks are drawn from this thread's default generator (manual_seed sets
  /// it), as torch.nn.Dropout draws from the global one; `gen` is unused and
  /// taken only for the constructor shape every module shares.
  explicit Dropout(const DropoutOptions& options, Generator& gen = default_generator());
  Var forward(const Var& x) const { return dropout(x, options_.p, is_training()); }
  const DropoutOptions& options() const { return options_; }

 private:
  DropoutOptions options_;
};

}  // namespace tg
