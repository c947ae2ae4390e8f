#pragma once
/// The seeded random generator: dropout's masks, parameter initialisation,
/// sampling, data shuffling.

#include <cstdint>
#include <random>
#include <string>

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

}  // namespace tg
