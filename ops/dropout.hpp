#pragma once
/// Dropout and the random generator that draws its masks.

#include <cstdint>
#include <random>
#include <string>

#include "../autodiff/var.hpp"

namespace tg {

/// A seeded random engine. Its draws are the same on every platform (the
/// standard distributions are not, so none is used).
class Generator {
 public:
  explicit Generator(std::uint64_t seed) : engine_(seed) {}
  void manual_seed(std::uint64_t seed) { engine_.seed(seed); }
  /// Uniform in [0, 1), from the top 53 bits of one draw.
  double uniform() { return static_cast<double>(engine_() >> 11) * 0x1.0p-53; }
  /// The engine's whole state as text (the standard's decimal form): a
  /// training checkpoint stores it so that a resumed run draws what an
  /// uninterrupted one would.
  std::string state() const;
  /// Restores a state() string; throws Error naming what is wrong for text
  /// that is not one, leaving the generator unchanged.
  void set_state(const std::string& state);

 private:
  std::mt19937_64 engine_;
};

/// This thread's default generator; it starts from a fixed seed, so runs are
/// reproducible unless reseeded.
Generator& default_generator();
/// Reseeds this thread's default generator.
void manual_seed(std::uint64_t seed);

/// Inverted dropout: while training, zeroes each element with probability p and
/// scales the kept ones by 1 / (1 - p), so the expectation is unchanged.
/// training = false or p = 0 returns x itself; p = 1 gives zeros. Throws Error
/// unless 0 <= p <= 1. The mask is drawn from `gen`: one seed, one mask.
Var dropout(const Var& x, double p, bool training, Generator& gen);
/// dropout drawing from this thread's default generator.
Var dropout(const Var& x, double p, bool training);

}  // namespace tg
