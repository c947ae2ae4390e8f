#pragma once
// The groups of options that the commands register: the task's data, the
// model's sizes and the optimizer (train), each writing into the struct that
// train/ builds from, and the decoding options (eval and predict). Their values
// are checked by bounds.hpp's validators.
#include <cstddef>
#include <limits>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "tapegrad/train/model_config.hpp"
#include "tapegrad/train/optim_config.hpp"
#include "tapegrad/train/task.hpp"

namespace tg::cli {

/// Adds --task, --dictionary, --train, --dev, --test, --source-tokens, --target-tokens,
/// --max-source-length, --max-target-length, --long-lines, and --reverse-target with the training files.
void add_task_options(CLI::App& command, TaskOptions& options, bool with_train_files = true);

/// The bounds of the model's sizes: layers of 10,000 units already take gigabytes.
inline constexpr std::size_t max_size = 10'000;
inline constexpr std::size_t max_layers = 100;
inline constexpr std::size_t max_heads = 1'000;

/// Adds --arch, --cell, --embedding, --hidden, ..., --feedforward, --norm, ... to `command`,
/// writing into `choice`.
void add_model_options(CLI::App& command, ModelChoice& choice);

/// Refuses, as a usage error naming the option, an option of the other architecture given to
/// `command` (--cell with --arch transformer, --norm with --arch rnn), and sizes that the model
/// would refuse only once the data is read: heads that do not divide the decoder's size (rnn's
/// multi_head) or --embedding (transformer), dot attention over different query and key sizes,
/// tied embeddings of the wrong size.
void check_model_choice(const CLI::App& command, const ModelChoice& choice);

/// The largest --lr and --min-lr: any finite rate. One too large to train makes the
/// loss non-finite, and the run stops with an error (docs/cli.md, "What is kept").
inline constexpr double max_lr = std::numeric_limits<double>::max();

/// Adds --optimizer, --lr, --weight-decay, --momentum, --schedule, --warmup, --min-lr,
/// --step-size, --gamma, --patience and --clip-norm to `command`.
void add_optim_options(CLI::App& command, OptimChoice& choice);

/// What eval and predict decode with, and how.
struct DecodingOptions {
  std::vector<std::string> ensemble;  ///< models that decode with the first
  std::vector<std::string> rescore;   ///< models that propose their n-best and score every candidate
  std::size_t beam = 5;
  std::size_t n_best = 1;  ///< outputs per source (predict)
  double length_penalty = 0.6;
  std::size_t max_source_length = 0;  ///< 0: the model's
};

/// Adds --ensemble, --rescore, --beam, --n-best (with_n_best), --length-penalty and
/// --max-source-length to `command`.
void add_decoding_options(CLI::App& command, DecodingOptions& options, bool with_n_best = false);

/// A command that writes OUT from IN (quantize, prune): Error, naming the command and the file,
/// when OUT is IN itself, or exists and `overwrite` was not given.
void check_output_file(const char* command, const std::string& in, const std::string& out, bool overwrite);

}  // namespace tg::cli
