#pragma once
/// Dropout, its masks drawn from a Generator (base/generator.hpp).

#include "tapegrad/autodiff/var.hpp"
#include "tapegrad/base/generator.hpp"

namespace tg {

/// Inverted dropout: while training, zeroes each element with probability p and
/// scales the kept ones by 1 / (1 - p), so the expectation is unchanged.
/// training = false or p = 0 returns x itself; p = 1 gives zeros. Throws Error
/// unless 0 <= p <= 1. The mask is drawn from `gen`: one seed, one mask.
Var dropout(const Var& x, double p, bool training, Generator& gen);
/// dropout drawing from this thread's default generator.
Var dropout(const Var& x, double p, bool training);

}  // namespace tg
