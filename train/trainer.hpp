#pragma once
// Trains an encoder-decoder of either architecture (model_config.hpp) on a task's data (task.hpp) as a
// `tapegrad train` run: the steps, sharded over data-parallel threads; dev
// scores as it goes; the schedule's horizon planned from a time budget
// (horizon_planner.hpp); resumable training checkpoints (run_state.hpp) in a
// folder it owns (run_folder.hpp) with a metrics log; then the best model
// scored on dev and test.
//
// Files in the run's folder (TrainConfig::out): checkpoint-<step>.safetensors
// (the last `keep` training checkpoints: model, optimizer, schedule,
// generators, position in the data), best.safetensors (the model with the best
// dev score), metrics.jsonl and run.json (whose run the folder is). The plots
// (loss.png, attention.png) are the command line's, drawn from curves() and
// dev_attention().
//
// A run goes through its phases in order:
//   Trainer trainer(config, [] { return stop_flag != 0; });
//   trainer.prepare();
//   const bool stopped = !trainer.train();    // install signal handlers around this
//   const std::string last = trainer.end_training(stopped);
//   if (!stopped) trainer.report();
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tapegrad/dist/distributed_data_parallel.hpp"
#include "tapegrad/io/safetensors.hpp"
#include "tapegrad/models/data_parallel.hpp"
#include "tapegrad/models/prune.hpp"
#include "tapegrad/models/quantize.hpp"
#include "tapegrad/models/sequence_model.hpp"
#include "tapegrad/optim/optimizer.hpp"
#include "tapegrad/optim/schedule.hpp"
#include "tapegrad/train/evaluate.hpp"
#include "tapegrad/train/horizon_planner.hpp"
#include "tapegrad/train/metrics_log.hpp"
#include "tapegrad/train/progress.hpp"
#include "tapegrad/train/run_folder.hpp"
#include "tapegrad/train/run_state.hpp"
#include "tapegrad/train/saved_model.hpp"
#include "tapegrad/train/task.hpp"

namespace tg {

/// The losses of a run, for its loss curve.
struct TrainingCurves {
  std::vector<double> train_step, train_loss;  ///< the mean training loss, logged every 50 steps
  std::vector<double> dev_step, dev_loss;      ///< at every dev evaluation
};

/// A dev item and the model's greedy output for it, with its attention.
struct AttentionSample {
  Tokens source;
  Prediction prediction;
};

class Trainer {
 public:
  /// `stop_requested` is asked before every step (a signal handler's flag, say); once it says
  /// true, train() returns. Empty: train() runs to its end.
  ///
  /// With `group` (every rank of an MPI job constructs its Trainer with the same
  /// configuration), the ranks train one model together: each takes its share of every
  /// global batch (DistributedDataParallel), so the steps are those of one process;
  /// the ranks refuse to start when their configurations or data differ; rank 0 alone
  /// writes the run's folder; dev and test are decoded in shares and scored whole; the
  /// time budget follows rank 0's clock, and a stop request on any rank stops all.
  Trainer(TrainConfig config, std::function<bool()> stop_requested, ProcessGroup* group = nullptr);

  /// Reads the data; builds the model, the optimizer and the schedules, or restores them from
  /// the checkpoint config.resume; plans the horizon; claims the folder (RunFolderError when
  /// it belongs to another run); prints what will be trained.
  void prepare();
  /// Trains until the horizon, the time budget or a stop request, evaluating on dev and saving
  /// checkpoints as configured. Returns false when the stop request ended it.
  bool train();
  /// After train(): a last dev evaluation when the last step had none (not when stopped), the
  /// last checkpoint, and the end of the progress line (with what was trained, unless stopped).
  /// Returns the checkpoint's path, or "none (parameters not finite)".
  std::string end_training(bool stopped);
  /// The losses logged so far, over all runs the checkpoints descend from.
  TrainingCurves curves() const;
  /// The first `count` dev items, decoded greedily by the model as it is now.
  std::vector<AttentionSample> dev_attention(std::size_t count);
  /// Scores the best model on dev (when there is one; otherwise the model as it is) on the
  /// whole dev and test sets with beam search, predicts the new words, and prints the test
  /// scores last, in the form scripts read: "test: WER 27.31% PER 6.52% (6398 words)".
  void report();

  /// Optimizer steps taken.
  std::size_t step() const { return pos_.step; }

 private:
  void plan_horizon();
  double measure_seconds_per_step();
  void set_horizon(std::size_t total_steps);
  bool train_step(const Batch& batch);
  bool parameters_finite() const;
  void evaluate_dev();
  bool save_training_checkpoint_now();
  Metadata metadata() const;
  double dev_loss();
  std::string metric() const { return metric_for(c_.metric, data_.name); }
  double budget_seconds() const { return c_.time_budget > 0 ? c_.time_budget * 60 : -1; }
  /// Whether this process writes the run's folder: the only one, or rank 0.
  bool lead() const { return group_ == nullptr || group_->rank() == 0; }
  /// Distributed: refuses to start, on every rank, when the ranks' configurations or data differ.
  void check_ranks_agree() const;
  /// Distributed: rank 0's elapsed time for all, and whether any rank was asked to stop.
  bool agree_on_time_and_stop(bool stop);
  /// evaluate() on `items`, decoded in shares over the ranks and scored whole.
  Scores evaluate_items(const std::vector<Item>& items, const DecodeChoice& choice);

  TrainConfig c_;
  std::function<bool()> stop_requested_;
  TaskData data_;
  ModelOptions options_;
  std::unique_ptr<SequenceModel> model_;
  // Data parallelism over threads (--workers): each computes the gradient of its
  // share of every batch, on the model or on a replica (models/data_parallel.hpp).
  std::unique_ptr<DataParallel<SequenceModel>> parallel_;
  // Over MPI ranks (null: one process): each rank's share of every batch, gradients summed.
  ProcessGroup* group_ = nullptr;
  std::unique_ptr<DistributedDataParallel> ddp_;
  std::unique_ptr<Optimizer> optimizer_;
  /// Pruning's masks: with --prune-to, or when --init names a pruned model.
  std::unique_ptr<PruningMasks> masks_;
  /// Distillation's teachers (--teacher), in eval mode.
  std::vector<SavedModel> teachers_;
  std::unique_ptr<LrScheduler> schedule_;
  std::unique_ptr<ReduceLROnPlateau> plateau_;
  std::unique_ptr<Batcher> batcher_;
  std::unique_ptr<MetricsLog> log_;
  std::unique_ptr<Progress> progress_;
  std::vector<Item> dev_sample_;
  Position pos_;
  std::optional<HorizonPlanner> planner_;  // a fresh run with a time budget
  RunClaim claim_;
  std::string last_checkpoint_;  // the newest checkpoint with finite parameters, for the divergence error
};

}  // namespace tg
