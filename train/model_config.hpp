#pragma once
// The model's configuration as the command line chooses it and as a checkpoint
// stores it (JSON in the metadata key "tapegrad.model"), so that eval, predict
// and graph rebuild exactly the model that was trained, of either architecture:
// the recurrent Seq2Seq or the TransformerSeq2Seq. The options that set it are
// the command line's (cli/options.hpp).
#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <type_traits>
#include <variant>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "tapegrad/models/seq2seq.hpp"
#include "tapegrad/models/transformer_seq2seq.hpp"

namespace tg {

/// What the command line chooses; the vocabulary sizes and special ids come from the data.
struct ModelChoice {
  std::string cell = "lstm";       ///< rnn
  std::size_t embedding = 64;      ///< embedding size; the Transformer's d_model
  std::size_t hidden = 128;        ///< rnn: encoder, per direction
  std::size_t decoder_hidden = 0;  ///< rnn: 0: directions * hidden (identity bridge)
  std::size_t encoder_layers = 2;
  std::size_t decoder_layers = 1;
  bool bidirectional = true;  ///< rnn
  std::string attention = "general";
  std::size_t attention_size = 0;  ///< rnn
  std::size_t heads = 4;           ///< rnn: multi_head attention's heads; transformer: every attention's
  double dropout = 0.0;
  double label_smoothing = 0.1;
  bool tie_embeddings = false;            ///< the output projection's weight is the target embedding
  std::string architecture = "rnn";       ///< rnn (Seq2Seq) or transformer (TransformerSeq2Seq)
  std::size_t feedforward = 0;            ///< transformer: dim_feedforward (0: 4 x embedding)
  std::string norm = "post";              ///< transformer: pre (norm before each sub-layer) or post (after the sum)
  std::string positional = "sinusoidal";  ///< transformer: sinusoidal or learned positions
  std::string activation = "relu";        ///< transformer: the feed-forward's relu or gelu
  bool share_embeddings = false;          ///< transformer: one table for source and target (same vocabularies)
};

/// A model's configuration, of either architecture.
using ModelOptions = std::variant<Seq2SeqOptions, TransformerSeq2SeqOptions>;

/// "rnn" or "transformer", as --arch and the stored JSON's "architecture" name them.
const char* architecture_name(const ModelOptions& options);

/// The options from the choice and the two vocabularies' sizes; throws Error naming a bad value.
ModelOptions make_options(const ModelChoice& choice, std::size_t source_vocab, std::size_t target_vocab);

/// The model the options describe, its parameters drawn from `gen`.
std::unique_ptr<SequenceModel> make_model(const ModelOptions& options, Generator& gen);

/// The number of parameters of make_model(options), nothing allocated (parameter_count_of of
/// the architecture's options); throws Error for options the model would refuse.
double parameter_count_of(const ModelOptions& options);

/// The options as JSON text, with their "architecture", and back: JSON without one (saved
/// before the Transformer) is a recurrent model's. from_json throws Error naming the field
/// that is missing or wrong.
std::string options_to_json(const ModelOptions& options);
ModelOptions options_from_json(const std::string& json, const std::string& source);

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
