#include "tapegrad/train/optim_config.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "tapegrad/optim/adadelta.hpp"
#include "tapegrad/optim/adagrad.hpp"
#include "tapegrad/optim/adam.hpp"
#include "tapegrad/optim/adamw.hpp"
#include "tapegrad/optim/param_groups.hpp"
#include "tapegrad/optim/rmsprop.hpp"
#include "tapegrad/optim/sgd.hpp"

namespace tg {

nlohmann::json optim_to_json(const OptimChoice& o) {
  return {{"optimizer", o.optimizer},
          {"lr", o.lr},
          {"weight_decay", o.weight_decay},
          {"momentum", o.momentum},
          {"schedule", o.schedule},
          {"warmup", o.warmup},
          {"min_lr", o.min_lr},
          {"step_size", o.step_size},
          {"gamma", o.gamma},
          {"patience", o.patience},
          {"clip_norm", o.clip_norm}};
}

OptimChoice optim_from_json(const nlohmann::json& j) {
  OptimChoice o;
  j.at("optimizer").get_to(o.optimizer);
  j.at("lr").get_to(o.lr);
  j.at("weight_decay").get_to(o.weight_decay);
  j.at("momentum").get_to(o.momentum);
  j.at("schedule").get_to(o.schedule);
  j.at("warmup").get_to(o.warmup);
  j.at("min_lr").get_to(o.min_lr);
  j.at("step_size").get_to(o.step_size);
  j.at("gamma").get_to(o.gamma);
  j.at("patience").get_to(o.patience);
  j.at("clip_norm").get_to(o.clip_norm);
  return o;
}

std::unique_ptr<Optimizer> make_optimizer(const OptimChoice& o, const Module& m) {
  std::vector<ParamGroup> groups = weight_decay_groups(m, o.weight_decay);
  // An empty group (a model without biases, say) is left out.
  groups.erase(std::remove_if(groups.begin(), groups.end(), [](const ParamGroup& g) { return g.params.empty(); }),
               groups.end());
  if (o.optimizer == "adam") return std::make_unique<Adam>(groups, AdamOptions{.lr = o.lr});
  if (o.optimizer == "adamw") return std::make_unique<AdamW>(groups, AdamWOptions{.lr = o.lr});
  if (o.optimizer == "sgd") return std::make_unique<Sgd>(groups, SgdOptions{.lr = o.lr, .momentum = o.momentum});
  if (o.optimizer == "rmsprop") {
    return std::make_unique<Rmsprop>(groups, RmspropOptions{.lr = o.lr, .momentum = o.momentum});
  }
  if (o.optimizer == "adagrad") return std::make_unique<Adagrad>(groups, AdagradOptions{.lr = o.lr});
  if (o.optimizer == "adadelta") return std::make_unique<Adadelta>(groups, AdadeltaOptions{.lr = o.lr});
  throw Error(fmt::format("unknown optimizer '{}'", o.optimizer));
}

std::unique_ptr<LrScheduler> make_schedule(const OptimChoice& o, Optimizer& optimizer, std::size_t total_steps) {
  const auto warmup = static_cast<std::int64_t>(o.warmup);
  const auto after_warmup = std::max<std::int64_t>(1, static_cast<std::int64_t>(total_steps) - warmup);
  std::unique_ptr<LrScheduler> inner;
  if (o.schedule == "constant" || o.schedule == "plateau") {
    if (warmup == 0) return nullptr;
    inner = std::make_unique<StepLR>(optimizer, StepLROptions{.step_size = 1, .gamma = 1.0});
  } else if (o.schedule == "step") {
    inner =
        std::make_unique<StepLR>(optimizer, StepLROptions{.step_size = std::int64_t(o.step_size), .gamma = o.gamma});
  } else if (o.schedule == "exponential") {
    inner = std::make_unique<ExponentialLR>(optimizer, ExponentialLROptions{.gamma = o.gamma});
  } else if (o.schedule == "cosine") {
    inner = std::make_unique<CosineAnnealingLR>(optimizer,
                                                CosineAnnealingLROptions{.t_max = after_warmup, .eta_min = o.min_lr});
  } else if (o.schedule == "restarts") {
    inner = std::make_unique<CosineAnnealingWarmRestarts>(
        optimizer, CosineAnnealingWarmRestartsOptions{.t_0 = std::int64_t(o.step_size), .eta_min = o.min_lr});
  } else if (o.schedule == "noam") {
    return std::make_unique<NoamLR>(optimizer,
                                    NoamLROptions{.warmup = std::max<std::int64_t>(1, warmup),
                                                  .scale = std::sqrt(double(std::max<std::int64_t>(1, warmup)))});
  } else {
    throw Error(fmt::format("unknown schedule '{}'", o.schedule));
  }
  if (warmup == 0) return inner;
  return std::make_unique<LinearWarmup>(std::move(inner),
                                        LinearWarmupOptions{.start_factor = 0.01, .warmup_steps = warmup});
}

std::unique_ptr<ReduceLROnPlateau> make_plateau(const OptimChoice& o, Optimizer& optimizer) {
  if (o.schedule != "plateau") return nullptr;
  return std::make_unique<ReduceLROnPlateau>(
      optimizer, ReduceLROnPlateauOptions{.factor = o.gamma, .patience = std::int64_t(o.patience)});
}

}  // namespace tg
