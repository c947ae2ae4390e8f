#pragma once
/// Dropout as a module: active in train(), the identity in eval().

#include "module.hpp"

namespace tg {

struct DropoutOptions {
  double p = 0.5;  ///< probability of zeroing an element, in [0, 1]
};

class Dropout : public Module {
 public:
  /// Masks are drawn from `gen`, which must outlive the module (the default
  /// generator does).
  explicit Dropout(const DropoutOptions& options, Generator& gen = default_generator());
  Var forward(const Var& x) const { return dropout(x, options_.p, is_training(), *gen_); }
  const DropoutOptions& options() const { return options_; }

 private:
  DropoutOptions options_;
  Generator* gen_;
};

}  // namespace tg
