#pragma once
// The model's configuration as the command line chooses it and as a checkpoint
// stores it (JSON in the metadata key "tapegrad.model"), so that eval, predict
// and graph rebuild exactly the model that was trained. The options that set it
// are the command line's (cli/options.hpp).
#include <cstdint>
#include <limits>
#include <string>
#include <type_traits>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "tapegrad/models/seq2seq.hpp"

namespace tg {

/// What the command line chooses; the vocabulary sizes and special ids come from the data.
struct ModelChoice {
  std::string cell = "lstm";
  std::size_t embedding = 64;
  std::size_t hidden = 128;        ///< encoder, per direction
  std::size_t decoder_hidden = 0;  ///< 0: directions * hidden (identity bridge)
  std::size_t encoder_layers = 2;
  std::size_t decoder_layers = 1;
  bool bidirectional = true;
  std::string attention = "general";
  std::size_t attention_size = 0;
  std::size_t heads = 4;
  double dropout = 0.0;
  double label_smoothing = 0.1;
  bool tie_embeddings = false;
};

/// Seq2SeqOptions from the choice and the two vocabularies' sizes; throws Error naming a bad value.
Seq2SeqOptions make_options(const ModelChoice& choice, std::size_t source_vocab, std::size_t target_vocab);

/// The options as JSON text, and back; from_json throws Error naming the field that is missing or wrong.
std::string options_to_json(const Seq2SeqOptions& options);
Seq2SeqOptions options_from_json(const std::string& json, const std::string& source);

/// `j`'s `key` into `out`, its JSON type checked first (a size must be a non-negative integer, a
/// double a number, ...) so that no stored value converts out of range (1e30 into a size);
/// throws Error naming `what` ("model.safetensors: the model configuration"), the key and the value.
template <class T>
void read_json_field(const nlohmann::json& j, const char* key, T& out, const std::string& what) {
  if (!j.is_object() || !j.contains(key)) throw Error(fmt::format("{} has no '{}'", what, key));
  const nlohmann::json& v = j.at(key);
  bool fits = false;
  const char* expected = "a string";
  if constexpr (std::is_same_v<T, bool>) {
    fits = v.is_boolean(), expected = "true or false";
  } else if constexpr (std::is_unsigned_v<T>) {
    fits = v.is_number_unsigned(), expected = "a non-negative integer";
  } else if constexpr (std::is_integral_v<T>) {
    fits = v.is_number_integer() &&
           (!v.is_number_unsigned() || v.get<std::uint64_t>() <= std::uint64_t(std::numeric_limits<T>::max()));
    expected = "an integer";
  } else if constexpr (std::is_floating_point_v<T>) {
    fits = v.is_number(), expected = "a number";
  } else {
    fits = v.is_string();
  }
  if (!fits) throw Error(fmt::format("{}'s '{}' is {}, not {}", what, key, v.dump(), expected));
  v.get_to(out);
}

}  // namespace tg
