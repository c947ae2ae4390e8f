#pragma once
// What a `tapegrad train` run is and where it stands, as its training
// checkpoints keep them (JSON in the metadata key "tapegrad.training",
// saved_model.hpp): the configuration it trains with, its position in the data
// and the schedule, and the options it was given (cli/run_options.hpp).
#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tapegrad/train/model_config.hpp"
#include "tapegrad/train/optim_config.hpp"
#include "tapegrad/train/task.hpp"

namespace tg {

/// Magnitude pruning while training (models/prune.hpp): the weights of products pruned to
/// `to` (0: none) on Zhu and Gupta's gradual schedule from step `start` to step `end`, every
/// `every` steps, across all weights (`global`) or within each.
struct PruneConfig {
  double to = 0;
  std::size_t start = 0;
  std::size_t end = 0;
  std::size_t every = 100;
  bool global = true;
};

/// Word-level distillation (models/distillation.hpp): the loss mixes the cross entropy with
/// the KL divergence from these saved models' distributions (an ensemble when several).
struct DistillConfig {
  std::vector<std::string> teachers;
  double alpha = 0.5;
  double temperature = 2.0;
};

/// How a run trains: what the command line gives, or a resumed checkpoint's configuration.
struct TrainConfig {
  TaskOptions task;
  ModelChoice model;
  OptimChoice optim;
  std::size_t batch_size = 128;
  std::size_t epochs = 0;
  std::size_t steps = 0;
  double time_budget = 0;  ///< minutes
  std::size_t eval_every = 0;
  std::size_t dev_sample = 0;  ///< 0: all of dev
  std::size_t checkpoint_every = 1000;
  std::size_t keep = 3;
  std::string out = "out";
  std::string resume;
  std::uint64_t seed = 1;
  std::size_t beam = 5;
  std::string metric = "auto";
  std::vector<std::string> words;
  std::size_t workers = 2;
  bool overwrite = false;
  std::string init;  ///< a saved model whose parameters a new run starts from (fine-tuning)
  PruneConfig prune;
  DistillConfig distill;
  nlohmann::json options = nlohmann::json::object();  ///< as given (cli/run_options.hpp), saved in checkpoints
};

/// The configuration as a checkpoint saves it.
nlohmann::json config_to_json(const TrainConfig& config);

/// Where the run is: everything besides tensors that a resumed run needs.
struct Position {
  std::size_t step = 0;                                   ///< optimizer steps taken
  std::uint64_t epoch = 0;                                ///< 0-based epoch of the next batch
  std::size_t index = 0;                                  ///< next batch within the epoch
  std::size_t total_steps = 0;                            ///< the schedule's horizon
  double elapsed = 0;                                     ///< seconds of training so far, over all runs
  double best = std::numeric_limits<double>::infinity();  ///< best dev score (lower is better)
  std::size_t best_step = 0;
  nlohmann::json history = nlohmann::json::object();  ///< curves for the plots
  double loss_sum = 0;                                ///< finite losses since the last logged mean
  std::size_t loss_count = 0;
  double running_loss = 0;     ///< exponential moving average, for the progress line
  std::size_t bad_losses = 0;  ///< non-finite losses in a row
};

nlohmann::json position_to_json(const Position& position);
/// Throws nlohmann::json::exception for a missing or mistyped field.
Position position_from_json(const nlohmann::json& json);

/// The options saved in the training checkpoint at `path` (null when it is not one, or predates
/// them); the Trainer names what else is wrong with the file when it resumes from it.
nlohmann::json saved_run_options(const std::string& path);

}  // namespace tg
