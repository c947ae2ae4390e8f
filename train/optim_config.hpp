#pragma once
// The optimizer and the learning-rate schedule as the command line chooses
// them (tapegrad train; the options are cli/options.hpp's), built over a
// model's parameters.
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "tapegrad/models/module.hpp"
#include "tapegrad/optim/optimizer.hpp"
#include "tapegrad/optim/schedule.hpp"

namespace tg {

struct OptimChoice {
  std::string optimizer = "adam";  ///< adam, adamw, sgd, rmsprop, adagrad, adadelta
  double lr = 4e-3;
  double weight_decay = 0;          ///< no decay on biases and 1-D (LayerNorm) weights
  double momentum = 0.9;            ///< sgd, rmsprop
  std::string schedule = "cosine";  ///< constant, step, exponential, cosine, restarts, noam, plateau
  std::size_t warmup = 200;         ///< linear warmup steps into the schedule (not noam: its own)
  double min_lr = 0;                ///< cosine's floor
  std::size_t step_size = 1000;     ///< step: steps between decays; restarts: the first cycle
  double gamma = 0.5;               ///< step and exponential's factor; plateau's factor
  std::size_t patience = 2;         ///< plateau: evaluations without improvement before a decay
  double clip_norm = 5;             ///< global L2 clipping of the gradients (0: none)
};

nlohmann::json optim_to_json(const OptimChoice& choice);
OptimChoice optim_from_json(const nlohmann::json& json);

/// The optimizer over m's parameters, in two groups (decay / no decay).
std::unique_ptr<Optimizer> make_optimizer(const OptimChoice& choice, const Module& m);

/// The per-step schedule for `total_steps` (null for constant and plateau, which
/// make_plateau covers).
std::unique_ptr<LrScheduler> make_schedule(const OptimChoice& choice, Optimizer& optimizer, std::size_t total_steps);
/// ReduceLROnPlateau on the dev metric (lower is better), when the schedule is "plateau".
std::unique_ptr<ReduceLROnPlateau> make_plateau(const OptimChoice& choice, Optimizer& optimizer);

}  // namespace tg
