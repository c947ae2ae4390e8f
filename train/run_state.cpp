#include "tapegrad/train/run_state.hpp"

#include "tapegrad/io/training_checkpoint.hpp"
#include "tapegrad/train/saved_model.hpp"

namespace tg {

nlohmann::json config_to_json(const TrainConfig& c) {
  return {{"model", nlohmann::json::parse(options_to_json(make_options(c.model, 1, 1)))},
          {"optim", optim_to_json(c.optim)},
          {"batch_size", c.batch_size},
          {"epochs", c.epochs},
          {"steps", c.steps},
          {"time_budget", c.time_budget},
          {"eval_every", c.eval_every},
          {"dev_sample", c.dev_sample},
          {"seed", c.seed},
          {"metric", c.metric},
          {"workers", c.workers},
          {"init", c.init},
          {"prune",
           {{"to", c.prune.to},
            {"start", c.prune.start},
            {"end", c.prune.end},
            {"every", c.prune.every},
            {"global", c.prune.global}}},
          {"distill",
           {{"teachers", c.distill.teachers}, {"alpha", c.distill.alpha}, {"temperature", c.distill.temperature}}}};
}

nlohmann::json position_to_json(const Position& p) {
  return {{"step", p.step},
          {"epoch", p.epoch},
          {"index", p.index},
          {"total_steps", p.total_steps},
          {"elapsed", p.elapsed},
          {"best", p.best},
          {"best_step", p.best_step},
          {"history", p.history},
          {"loss_sum", p.loss_sum},
          {"loss_count", p.loss_count},
          {"running_loss", p.running_loss},
          {"bad_losses", p.bad_losses}};
}

Position position_from_json(const nlohmann::json& j) {
  Position p;
  j.at("step").get_to(p.step);
  j.at("epoch").get_to(p.epoch);
  j.at("index").get_to(p.index);
  j.at("total_steps").get_to(p.total_steps);
  j.at("elapsed").get_to(p.elapsed);
  p.best = j.at("best").is_null() ? std::numeric_limits<double>::infinity() : j.at("best").get<double>();
  j.at("best_step").get_to(p.best_step);
  p.history = j.at("history");
  // Absent from checkpoints saved before they were kept.
  p.loss_sum = j.value("loss_sum", 0.0);
  p.loss_count = j.value("loss_count", std::size_t{0});
  p.running_loss = j.value("running_loss", 0.0);
  p.bad_losses = j.value("bad_losses", std::size_t{0});
  return p;
}

nlohmann::json saved_run_options(const std::string& path) {
  const Metadata metadata = read_checkpoint_metadata(path);
  auto it = metadata.find(kTrainingKey);
  if (it == metadata.end()) return nullptr;
  const nlohmann::json training = nlohmann::json::parse(it->second, nullptr, /*allow_exceptions=*/false);
  return training.is_object() && training.contains("options") ? training.at("options") : nlohmann::json();
}

}  // namespace tg
