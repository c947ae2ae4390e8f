#pragma once
// The model's configuration as the command line sets it and as a checkpoint
// stores it (JSON in the metadata key "tapegrad.model"), so that eval, predict
// and graph rebuild exactly the model that was trained.
#include <string>

#include <CLI/CLI.hpp>

#include "models/seq2seq.hpp"

namespace tg::cli {

/// What the command line chooses; the vocabulary sizes and special ids come from the data.
struct ModelChoice {
  std::string cell = "lstm";
  std::size_t embedding = 64;
  std::size_t hidden = 128;          ///< encoder, per direction
  std::size_t decoder_hidden = 0;    ///< 0: directions * hidden (identity bridge)
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

/// The bounds of the model's sizes: layers of 10,000 units already take gigabytes.
inline constexpr std::size_t max_size = 10'000;
inline constexpr std::size_t max_layers = 100;
inline constexpr std::size_t max_heads = 1'000;

/// Adds --cell, --embedding, --hidden, ... to `command`, writing into `choice`.
void add_model_options(CLI::App& command, ModelChoice& choice);

/// Refuses, as a usage error naming the option, sizes that the model would refuse only once the
/// data is read: heads that do not divide the decoder's size, dot attention over different query
/// and key sizes, tied embeddings of the wrong size.
void check_model_choice(const ModelChoice& choice);

/// Seq2SeqOptions from the choice and the two vocabularies' sizes; throws Error naming a bad value.
Seq2SeqOptions make_options(const ModelChoice& choice, std::size_t source_vocab, std::size_t target_vocab);

/// The options as JSON text, and back; from_json throws Error naming the field that is missing or wrong.
std::string options_to_json(const Seq2SeqOptions& options);
Seq2SeqOptions options_from_json(const std::string& json, const std::string& source);

}  // namespace tg::cli
