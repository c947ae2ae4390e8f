#include "tapegrad/base/generator.hpp"

#include <sstream>

#include <fmt/format.h>

#include "tapegrad/base/error.hpp"

namespace tg {

Generator& default_generator() {
  thread_local Generator gen(67280421310721ULL);  // PyTorch's default seed
  return gen;
}

void manual_seed(std::uint64_t seed) { default_generator().manual_seed(seed); }

std::string Generator::state() const {
  std::ostringstream out;
  out << engine_;
  return out.str();
}

void Generator::set_state(const std::string& state) {
  std::istringstream in(state);
  std::mt19937_64 engine;
  in >> engine;
  // The state is 312 words; anything left over, or a word that did not parse, is not one.
  std::string rest;
  if (in.fail() || (in >> rest, !rest.empty())) {
    throw Error(
        fmt::format("Generator::set_state: not a generator state ({} characters, expected 312 unsigned "
                    "64-bit numbers separated by spaces)",
                    state.size()));
  }
  engine_ = engine;
}

}  // namespace tg
