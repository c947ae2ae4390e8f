#include "tapegrad/models/positional_encoding.hpp"

#include <fmt/format.h>

#include "tapegrad/models/learned_positional_encoding.hpp"
#include "tapegrad/models/sinusoidal_positional_encoding.hpp"

namespace tg {

const char* positional_kind_name(PositionalKind kind) {
  return kind == PositionalKind::learned ? "learned" : "sinusoidal";
}

PositionalKind parse_positional_kind(const std::string& name) {
  if (name == "sinusoidal") return PositionalKind::sinusoidal;
  if (name == "learned") return PositionalKind::learned;
  throw Error(fmt::format("unknown positional encoding '{}' (sinusoidal or learned)", name));
}

PositionalEncoding::PositionalEncoding(const PositionalEncodingOptions& options) : options_(options) {
  if (options.d_model == 0) throw Error("PositionalEncoding: d_model must be >= 1");
  if (options.kind == PositionalKind::learned && options.max_length == 0) {
    throw Error("LearnedPositionalEncoding: max_length must be >= 1");
  }
}

void PositionalEncoding::check_input(const Var& x, const char* who) const {
  if (x.dim() < 2 || x.shape()[x.dim() - 1] != options_.d_model || x.shape()[x.dim() - 2] == 0) {
    throw ShapeError(fmt::format("{}: x must be [..., L, {}] (d_model) with L >= 1, got {}", who, options_.d_model,
                                 shape_str(x.shape())));
  }
}

std::unique_ptr<PositionalEncoding> make_positional_encoding(const PositionalEncodingOptions& options, Generator& gen) {
  if (options.kind == PositionalKind::learned) return std::make_unique<LearnedPositionalEncoding>(options, gen);
  return std::make_unique<SinusoidalPositionalEncoding>(options, gen);
}

}  // namespace tg
