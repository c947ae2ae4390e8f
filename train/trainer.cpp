#include "tapegrad/train/trainer.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <limits>
#include <variant>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "tapegrad/autodiff/mode.hpp"
#include "tapegrad/autodiff/tape.hpp"
#include "tapegrad/io/training_checkpoint.hpp"
#include "tapegrad/models/distillation.hpp"
#include "tapegrad/ops/elementwise.hpp"
#include "tapegrad/optim/clip.hpp"
#include "tapegrad/train/horizon_planner.hpp"
#include "tapegrad/train/saved_model.hpp"

namespace tg {
namespace {

// Whether the masks grow at `step`: every p.every steps from p.start, and at p.end, up to p.end;
// with p.end at or before p.start, once, at p.start (or step 1): one-shot pruning.
bool prune_due(const PruneConfig& p, std::size_t step) {
  if (p.end <= p.start) return step == std::max<std::size_t>(p.start, 1);
  return step >= p.start && step <= p.end && ((step - p.start) % p.every == 0 || step == p.end);
}

namespace fs = std::filesystem;
using clock_type = std::chrono::steady_clock;

// Words that are not in CMUdict, to show what the model makes of new words.
const std::vector<std::string> kNewWords = {"tapegrad", "gradient", "backprop",
                                            "xtensor",  "zoomable", "flibbertigibbet"};

// A loss that is not finite this many steps in a row stops the run: it diverged.
constexpr std::size_t kDivergedAfter = 5;

// The target tokens of `rows` (each target and its EOS).
double target_tokens(const Batcher& batcher, std::span<const std::size_t> rows) {
  double n = 0;
  for (std::size_t row : rows) n += double(batcher.examples()[row].target.size() + 1);
  return n;
}

std::vector<std::size_t> part_of(std::span<const std::size_t> rows, RowRange r) {
  return {rows.begin() + std::ptrdiff_t(r.begin), rows.begin() + std::ptrdiff_t(r.end)};
}

// What a training step minimises for a batch: the model's loss, or with teachers the
// distilled loss (models/distillation.hpp).
struct StepLoss {
  std::vector<const SequenceModel*> teachers;
  DistillOptions distill;

  Var operator()(const SequenceModel& m, const Batch& b) const {
    if (teachers.empty()) return m.loss(b.source, b.lengths, b.target_in, b.target_out);
    return distilled_loss(m, teachers, b.source, b.lengths, b.target_in, b.target_out, distill);
  }
};

StepLoss step_loss_of(const std::vector<SavedModel>& teachers, const DistillConfig& d) {
  StepLoss loss;
  for (const SavedModel& t : teachers) loss.teachers.push_back(t.model.get());
  loss.distill = {.alpha = d.alpha, .temperature = d.temperature};
  return loss;
}

// The gradient of the global batch's mean token loss in `rows` (some of its rows), added
// into model's parameters: on one thread, or split over `parallel`'s threads. Each
// share's loss is weighted by its share of the global batch's `total` target tokens, so
// that the shares' gradients add up to the whole batch's. Returns the shares' weighted
// losses summed.
double backward_rows(SequenceModel& model, DataParallel<SequenceModel>* parallel, DistributedDataParallel* ddp,
                     const Batcher& batcher, std::span<const std::size_t> rows, double total,
                     const StepLoss& step_loss) {
  auto backward = [&](const Var& loss, double weight) {
    if (ddp != nullptr) {
      ddp->backward(loss, Tensor::scalar(weight, loss.dtype()));
    } else if (weight == 1) {
      loss.backward();
    } else {
      (loss * weight).backward();
    }
  };
  if (rows.empty()) return 0;
  if (parallel == nullptr || rows.size() < parallel->shards()) {
    const Batch b = batcher.batch_of(rows);
    Var loss = step_loss(model, b);
    const double weight = target_tokens(batcher, rows) / total, value = loss.item() * weight;
    backward(loss, weight);
    current_tape().reset();
    return value;
  }
  // Each share padded to its own longest sentence, not the batch's.
  std::vector<Batch> parts;
  std::vector<double> weights;
  for (std::size_t i = 0; i < parallel->shards(); ++i) {
    const std::vector<std::size_t> share = part_of(rows, shard_rows(rows.size(), i, parallel->shards()));
    parts.push_back(batcher.batch_of(share));
    weights.push_back(target_tokens(batcher, share) / total);
  }
  std::vector<double> values(parts.size());
  parallel->run([&](std::size_t i, const SequenceModel& m) {
    Var loss = step_loss(m, parts[i]);
    values[i] = loss.item() * weights[i];
    (loss * weights[i]).backward();  // threads: DistributedDataParallel sends after the run
    current_tape().reset();
  });
  double sum = 0;
  for (double v : values) sum += v;
  return sum;
}

// The gradient of the batch's mean token loss in model's parameters (undefined gradients
// first), and that mean. Over MPI ranks (ddp), each rank takes its share of the batch's rows
// with a dropout stream of its own for the step, and the ranks' gradients are summed.
double forward_backward(SequenceModel& model, DataParallel<SequenceModel>* parallel, DistributedDataParallel* ddp,
                        const Batcher& batcher, const Batch& b, const StepLoss& step_loss) {
  for (Var& p : model.parameters()) p.grad() = Tensor();
  const double total = target_tokens(batcher, b.rows);
  if (ddp == nullptr) return backward_rows(model, parallel, nullptr, batcher, b.rows, total, step_loss);
  ProcessGroup& group = ddp->group();
  const std::vector<std::size_t> mine =
      part_of(b.rows, shard_rows(b.rows.size(), std::size_t(group.rank()), std::size_t(group.size())));
  // Every rank draws the step's seed from the same stream, then dropout draws from the rank's own.
  const auto step_seed = static_cast<std::uint64_t>(default_generator().uniform() * 0x1.0p53);
  const Generator shared = default_generator();
  default_generator().manual_seed(step_seed ^ (0x9E3779B97F4A7C15ull * std::uint64_t(group.rank() + 1)));
  double loss[1] = {0};
  try {
    loss[0] = backward_rows(model, parallel, parallel != nullptr ? nullptr : ddp, batcher, mine, total, step_loss);
  } catch (...) {
    default_generator() = shared;
    throw;
  }
  default_generator() = shared;
  ddp->synchronize();
  group.allreduce_sum(std::span<double>(loss));
  return loss[0];
}

// A short digest of `text` (FNV-1a), to compare what ranks read without sending all of it.
std::string digest(const std::string& text) {
  std::uint64_t h = 14695981039346656037ull;
  for (unsigned char c : text) h = (h ^ c) * 1099511628211ull;
  return fmt::format("{:016x}", h);
}

std::string items_text(const std::vector<Item>& items) {
  std::string text;
  for (const Item& item : items) {
    text += fmt::format("{}", fmt::join(item.source, " "));
    for (const Tokens& r : item.references) text += fmt::format("\t{}", fmt::join(r, " "));
    text += "\n";
  }
  return text;
}

std::string vocab_text(const Vocab& vocab) {
  std::string text;
  for (std::size_t i = 0; i < vocab.size(); ++i) text += vocab.token(static_cast<std::int64_t>(i)) + "\n";
  return text;
}

// ": 'optim.lr' is 0.01 on rank 0, 0.02 on rank 1": the first value where b (rank r's) differs from a.
std::string first_difference(const nlohmann::json& a, const nlohmann::json& b, const std::string& path, std::size_t r) {
  if (a.is_object() && b.is_object()) {
    for (const auto& [key, value] : a.items()) {
      const std::string where = path.empty() ? key : path + "." + key;
      if (!b.contains(key)) return fmt::format(": '{}' is {} on rank 0, missing on rank {}", where, value.dump(), r);
      if (b.at(key) != value) return first_difference(value, b.at(key), where, r);
    }
  }
  return fmt::format(": '{}' is {} on rank 0, {} on rank {}", path, a.dump(), b.dump(), r);
}

// Each rank's loss carries its share of the batch's tokens, so the gradients are summed. Buckets
// of 1 MB (the first 256 KB): on one machine they hid 79% of the G2P model's communication where
// DDP's 25 MB (first 1 MB) hid 49%, at the same throughput (docs/distributed.md).
DistributedOptions training_buckets() {
  return DistributedOptions{
      .bucket_bytes = std::size_t{1} << 20, .first_bucket_bytes = std::size_t{256} << 10, .average = false};
}

}  // namespace

Trainer::Trainer(TrainConfig config, std::function<bool()> stop_requested, ProcessGroup* group)
    : c_(std::move(config)), stop_requested_(std::move(stop_requested)), group_(group) {}

void Trainer::check_ranks_agree() const {
  nlohmann::json config = config_to_json(c_);
  config.erase("out");  // only rank 0 writes it
  const nlohmann::json mine = {
      {"configuration", config.dump()},
      {"source vocabulary", digest(vocab_text(data_.source_vocab))},
      {"target vocabulary", digest(vocab_text(data_.target_vocab))},
      {"training data", fmt::format("{} items, digest {}", data_.train.size(), digest(items_text(data_.train)))},
      {"dev data", fmt::format("{} items, digest {}", data_.dev.size(), digest(items_text(data_.dev)))},
      {"test data", fmt::format("{} items, digest {}", data_.test.size(), digest(items_text(data_.test)))},
      {"resumed checkpoint", c_.resume}};
  const std::vector<std::string> all = group_->allgather(mine.dump());
  const nlohmann::json first = nlohmann::json::parse(all[0]);
  for (std::size_t r = 1; r < all.size(); ++r) {
    const nlohmann::json theirs = nlohmann::json::parse(all[r]);
    for (const auto& [what, value] : first.items()) {
      if (theirs.value(what, nlohmann::json()) == value) continue;
      const std::string detail =
          what == "configuration" ? first_difference(nlohmann::json::parse(value.get<std::string>()),
                                                     nlohmann::json::parse(theirs.at(what).get<std::string>()), "", r)
                                  : fmt::format(": {} on rank 0, {} on rank {}", value.dump(),
                                                theirs.value(what, nlohmann::json()).dump(), r);
      throw Error(
          fmt::format("rank {} and rank 0 differ in their {}{}; every rank must start with the same options "
                      "and files",
                      r, what, detail));
    }
  }
}

bool Trainer::agree_on_time_and_stop(bool stop) {
  if (group_ == nullptr) return stop;
  double shared[2] = {lead() ? pos_.elapsed : 0.0, stop ? 1.0 : 0.0};
  group_->allreduce_sum(std::span<double>(shared));
  pos_.elapsed = shared[0];
  return shared[1] > 0;
}

Scores Trainer::evaluate_items(const std::vector<Item>& items, const DecodeChoice& choice) {
  if (group_ == nullptr) {
    return evaluate(*model_, items, data_.source_vocab, data_.target_vocab, choice, metric());
  }
  // Each rank decodes a contiguous share; every rank then scores all the predictions.
  const RowRange mine = shard_rows(items.size(), std::size_t(group_->rank()), std::size_t(group_->size()));
  const std::vector<Item> share(items.begin() + std::ptrdiff_t(mine.begin), items.begin() + std::ptrdiff_t(mine.end));
  std::vector<Prediction> predicted;
  if (!share.empty()) evaluate(*model_, share, data_.source_vocab, data_.target_vocab, choice, metric(), &predicted);
  nlohmann::json best = nlohmann::json::array();
  for (const Prediction& p : predicted) best.push_back(p.tokens.empty() ? Tokens{} : p.tokens[0]);
  std::vector<Prediction> all;
  for (const std::string& text : group_->allgather(best.dump())) {
    for (const nlohmann::json& tokens : nlohmann::json::parse(text)) {
      all.push_back(Prediction{.tokens = {tokens.get<Tokens>()}, .scores = {0.0}, .attention = {}});
    }
  }
  return score_predictions(items, all, metric());
}

void Trainer::prepare() {
  std::optional<Vocab> source_vocab, target_vocab;
  std::optional<ResumePoint> resume;
  nlohmann::json saved_config;
  if (!c_.resume.empty()) {
    // The run's options came from the checkpoint (the command line applied them); the model and the task come
    // from its metadata, the position and the states from the checkpoint itself.
    const Metadata metadata = read_checkpoint_metadata(c_.resume);
    SavedModel saved = load_saved_model(c_.resume);  // checks configuration and vocabularies
    auto it = metadata.find(kTrainingKey);
    if (it == metadata.end()) {
      throw Error(fmt::format("{}: not a training checkpoint (no '{}'); best.safetensors holds only the model",
                              c_.resume, kTrainingKey));
    }
    try {
      nlohmann::json training = nlohmann::json::parse(it->second);
      saved_config = training.at("config");
      c_.task = saved.task;
      c_.optim = optim_from_json(saved_config.at("optim"));
      saved_config.at("batch_size").get_to(c_.batch_size);
      saved_config.at("eval_every").get_to(c_.eval_every);
      saved_config.at("dev_sample").get_to(c_.dev_sample);
      saved_config.at("seed").get_to(c_.seed);
      saved_config.at("metric").get_to(c_.metric);
      saved_config.at("workers").get_to(c_.workers);
      if (!training.contains("options")) {
        // Saved before the options were: how long to run comes from the checkpoint too.
        saved_config.at("epochs").get_to(c_.epochs);
        saved_config.at("steps").get_to(c_.steps);
      }
      pos_ = position_from_json(training.at("position"));
    } catch (const nlohmann::json::exception& e) {
      throw Error(fmt::format("{}: the metadata's '{}' is not valid: {}", c_.resume, kTrainingKey, e.what()));
    }
    source_vocab = saved.source_vocab;
    target_vocab = saved.target_vocab;
    options_ = saved.options;
    resume = ResumePoint{.checkpoint = c_.resume, .stamp = stamp_of(metadata), .step = pos_.step};
  }
  data_ = load_task(c_.task, source_vocab, target_vocab);
  for (const std::string& path : c_.distill.teachers) {
    SavedModel teacher = load_saved_model(path);
    if (!(teacher.source_vocab == data_.source_vocab) || !(teacher.target_vocab == data_.target_vocab)) {
      throw Error(
          fmt::format("--teacher {}: its vocabularies ({} and {} tokens) differ from the training data's ({} "
                      "and {}); a teacher is trained on the same task",
                      path, teacher.source_vocab.size(), teacher.target_vocab.size(), data_.source_vocab.size(),
                      data_.target_vocab.size()));
    }
    teachers_.push_back(std::move(teacher));
  }
  if (c_.resume.empty()) {
    options_ = make_options(c_.model, data_.source_vocab.size(), data_.target_vocab.size());
    // Refused before it is built: float32 values, their gradients, the optimizer's two
    // states (Adam's) and the second worker's gradients take five times the parameters.
    const double parameters = parameter_count_of(options_), bytes = 5 * 4 * parameters;
    if (bytes > memory_budget_bytes()) {
      const std::string width =
          std::holds_alternative<TransformerSeq2SeqOptions>(options_)
              ? fmt::format("--feedforward {}",
                            std::get<TransformerSeq2SeqOptions>(options_).transformer.dim_feedforward)
              : fmt::format("--hidden {}", c_.model.hidden);
      throw Error(
          fmt::format("the model of --embedding {}, {} and {} + {} layers has {:.3g} parameters: training it takes "
                      "about {:.1f} GB, over the {:.1f} GB allowed (half of the memory, or of ulimit -v)",
                      c_.model.embedding, width, c_.model.encoder_layers, c_.model.decoder_layers, parameters,
                      bytes / 1e9, memory_budget_bytes() / 1e9));
    }
  }
  if (group_ != nullptr) check_ranks_agree();
  manual_seed(c_.seed);
  Generator init(c_.seed);
  model_ = make_model(options_, init);
  bool pruned_init = false;
  if (!c_.init.empty() && c_.resume.empty()) {
    SavedModel start = load_saved_model(c_.init);
    if (options_to_json(start.options) != options_to_json(options_)) {
      throw Error(fmt::format("--init {}: its model is {}, this run's {}; give the options it was trained with",
                              c_.init, options_to_json(start.options), options_to_json(options_)));
    }
    model_->load_state_dict(start.model->state_dict());
    pruned_init = start.metadata.count(kPruningKey) != 0;
  }
  if (c_.prune.to > 0 || pruned_init) {
    masks_ = std::make_unique<PruningMasks>(quantizable_weights(*model_, false));
    if (pruned_init) masks_->prune_zeros();  // fine-tuning a pruned model keeps its zeros
  }
  if (group_ != nullptr) ddp_ = std::make_unique<DistributedDataParallel>(*model_, *group_, training_buckets());
  if (c_.workers > 2) throw Error(fmt::format("--workers {}: 1 or 2", c_.workers));
  if (c_.workers == 2) parallel_ = std::make_unique<DataParallel<SequenceModel>>(*model_, c_.workers);
  optimizer_ = make_optimizer(c_.optim, *model_);
  batcher_ = std::make_unique<Batcher>(
      training_examples(data_.train, data_.source_vocab, data_.target_vocab, c_.task.reverse_target),
      BatcherOptions{.batch_size = c_.batch_size, .seed = c_.seed});
  // All of dev by default: greedy scores on a sample are noisy enough to keep an earlier
  // checkpoint over a better final one (docs/performance.md).
  const std::size_t sample = c_.dev_sample == 0 ? data_.dev.size() : std::min(data_.dev.size(), c_.dev_sample);
  dev_sample_.assign(data_.dev.begin(), data_.dev.begin() + static_cast<std::ptrdiff_t>(sample));
  if (c_.eval_every == 0) c_.eval_every = batcher_->batches_per_epoch();

  if (!c_.resume.empty()) {
    // As a fresh run builds them (the schedules take their base lrs from the
    // optimizer's initial lr), then every state as it was at the checkpoint.
    schedule_ = make_schedule(c_.optim, *optimizer_, pos_.total_steps);
    plateau_ = make_plateau(c_.optim, *optimizer_);
    TrainingCheckpoint ckpt = load_training_checkpoint(c_.resume, *model_);
    auto state = [&](const char* name) -> const std::map<std::string, Tensor>& {
      auto it = ckpt.states.find(name);
      if (it == ckpt.states.end()) throw CheckpointError(fmt::format("{}: no '{}' state", c_.resume, name));
      return it->second;
    };
    optimizer_->load_state_dict(state("optimizer"));
    if (masks_) masks_->load_state_dict(state("pruning"));
    if (schedule_) schedule_->load_state_dict(state("schedule"));
    if (plateau_) plateau_->load_state_dict(state("plateau"));
    // The workers' dropout generators are reseeded from the main one at every step (DataParallel),
    // so the main one's state is all they need.
    std::string generator, sampling_generator;
    Generator* sampling = model_->sampling_generator();  // a model with scheduled sampling saved its state
    try {
      nlohmann::json training = nlohmann::json::parse(ckpt.metadata.at(kTrainingKey));
      training.at("generator").get_to(generator);
      if (sampling) training.at("sampling_generator").get_to(sampling_generator);
    } catch (const nlohmann::json::exception& e) {
      throw Error(fmt::format("{}: the metadata's '{}' is not valid: {}", c_.resume, kTrainingKey, e.what()));
    }
    default_generator().set_state(generator);
    if (sampling) sampling->set_state(sampling_generator);
    last_checkpoint_ = c_.resume;
    // --steps or --epochs given anew: the schedule goes on toward the new end.
    if (saved_config.value("steps", c_.steps) != c_.steps || saved_config.value("epochs", c_.epochs) != c_.epochs) {
      std::size_t limit = c_.steps;
      if (c_.epochs) {
        const std::size_t epochs = epoch_steps(c_.epochs, batcher_->batches_per_epoch());
        limit = limit ? std::min(limit, epochs) : epochs;
      }
      if (limit) set_horizon(std::max(limit, pos_.step));
    }
  } else {
    plan_horizon();
    schedule_ = make_schedule(c_.optim, *optimizer_, pos_.total_steps);
    plateau_ = make_plateau(c_.optim, *optimizer_);
  }
  // Only now, with everything read and built, may the folder change (rank 0's alone).
  bool best_removed = false;
  if (lead()) {
    claim_ = claim_run_folder(c_.out, resume, c_.overwrite);
    best_removed = claim_.best_removed;
    log_ = std::make_unique<MetricsLog>(fs::path(c_.out) / "metrics.jsonl");
  }
  if (group_ != nullptr) {
    // A folder that rank 0 refused stops every rank; the others learn whether the best model went.
    std::int64_t flags[2] = {lead() ? 1 : 0, best_removed ? 1 : 0};
    group_->allreduce_sum(std::span<std::int64_t>(flags));
    best_removed = flags[1] > 0;
  }
  if (best_removed) {
    pos_.best = std::numeric_limits<double>::infinity();
    pos_.best_step = 0;
  }
  const std::size_t per_epoch = batcher_->batches_per_epoch();
  fmt::print("task {}: {} train, {} dev, {} test items; vocabularies {} -> {} tokens\n", data_.name, data_.train.size(),
             data_.dev.size(), data_.test.size(), data_.source_vocab.size(), data_.target_vocab.size());
  fmt::print("model: {} parameters; {} batches of {} per epoch; {} steps planned{}\n", model_->parameter_count(),
             per_epoch, c_.batch_size, pos_.total_steps,
             c_.resume.empty() ? "" : fmt::format(", resuming at step {} from {}", pos_.step, c_.resume));
  std::fflush(stdout);
  progress_ = std::make_unique<Progress>(pos_.total_steps);
}

double Trainer::measure_seconds_per_step() {
  // A few steps of throwaway copies on batches spread over the first epoch;
  // the generators are put back, so the real run draws what it would.
  const std::string saved_generator = default_generator().state();
  Generator scratch(c_.seed + 1);
  std::unique_ptr<SequenceModel> copy = make_model(options_, scratch);
  std::unique_ptr<DataParallel<SequenceModel>> parallel_copy =
      parallel_ ? std::make_unique<DataParallel<SequenceModel>>(*copy, parallel_->shards()) : nullptr;
  std::unique_ptr<DistributedDataParallel> ddp_copy =
      group_ ? std::make_unique<DistributedDataParallel>(*copy, *group_, training_buckets()) : nullptr;
  std::unique_ptr<Optimizer> opt = make_optimizer(c_.optim, *copy);
  const std::size_t n = std::min<std::size_t>(12, batcher_->batches_per_epoch());
  double seconds = 0;
  for (std::size_t i = 0; i < n + 2; ++i) {
    Batch b = batcher_->batch(0, i * batcher_->batches_per_epoch() / (n + 2));
    auto start = clock_type::now();
    forward_backward(*copy, parallel_copy.get(), ddp_copy.get(), *batcher_, b, step_loss_of(teachers_, c_.distill));
    opt->step();
    if (i >= 2) seconds += std::chrono::duration<double>(clock_type::now() - start).count();  // 2 warm-up steps
  }
  default_generator().set_state(saved_generator);
  double per_step[1] = {seconds / double(n)};
  if (group_ != nullptr) {  // rank 0's measurement plans for all
    if (!lead()) per_step[0] = 0;
    group_->allreduce_sum(std::span<double>(per_step));
  }
  return per_step[0];
}

void Trainer::plan_horizon() {
  const std::size_t per_epoch = batcher_->batches_per_epoch();
  std::size_t total = 0;
  if (c_.steps) total = c_.steps;
  if (c_.epochs) total = total ? std::min(total, epoch_steps(c_.epochs, per_epoch)) : epoch_steps(c_.epochs, per_epoch);
  if (c_.time_budget > 0) {
    planner_.emplace(budget_seconds(), /*limit=*/total);
    const double sps = measure_seconds_per_step();
    const std::size_t fit = planner_->first_plan(sps);
    fmt::print("measured {:.0f} ms per step: about {} steps fit {} minutes\n", 1000 * sps, fit, c_.time_budget);
    total = total ? std::min(total, fit) : fit;
  }
  if (total == 0) total = epoch_steps(10, per_epoch);  // nothing said: 10 epochs
  pos_.total_steps = std::max<std::size_t>(1, total);
}

// The schedule goes on toward a new end from the step it is at.
void Trainer::set_horizon(std::size_t total_steps) {
  pos_.total_steps = total_steps;
  if (progress_) progress_->set_total_steps(total_steps);
  if (!schedule_) return;
  // The new schedule starts from the old one's state (its step and base lrs);
  // building it set the optimizer's lrs to its step 0, so they are put back.
  const std::map<std::string, Tensor> state = schedule_->state_dict();
  std::vector<double> lrs;
  for (std::size_t g = 0; g < optimizer_->group_count(); ++g) lrs.push_back(optimizer_->group_lr(g));
  schedule_ = make_schedule(c_.optim, *optimizer_, total_steps);
  schedule_->load_state_dict(state);
  for (std::size_t g = 0; g < lrs.size(); ++g) optimizer_->set_group_lr(g, lrs[g]);
}

bool Trainer::train_step(const Batch& b) {
  const double value =
      forward_backward(*model_, parallel_.get(), ddp_.get(), *batcher_, b, step_loss_of(teachers_, c_.distill));
  bool stepped = true;
  if (c_.optim.clip_norm > 0) {
    GradNorm norm = clip_grad_norm(optimizer_->parameters(), c_.optim.clip_norm);
    if (!norm.finite) {
      progress_->print(fmt::format("step {}: the gradient norm is {}; step skipped, parameters untouched",
                                   pos_.step + 1, norm.total_norm));
      stepped = false;
    }
  }
  if (stepped) optimizer_->step();
  if (schedule_) schedule_->step();
  ++pos_.step;
  if (masks_) {
    const PruneConfig& p = c_.prune;
    if (p.to > 0 && prune_due(p, pos_.step)) {
      masks_->prune_to(gradual_sparsity(pos_.step, p.start, p.end, p.to),
                       p.global ? PruneScope::global : PruneScope::per_layer);
    }
    masks_->apply();  // a pruned weight stays zero through the optimizer's updates
  }
  if (std::isfinite(value)) {
    pos_.bad_losses = 0;
    pos_.loss_sum += value;
    ++pos_.loss_count;
    pos_.running_loss =
        pos_.loss_count == 1 && pos_.running_loss == 0 ? value : 0.95 * pos_.running_loss + 0.05 * value;
  } else if (++pos_.bad_losses == kDivergedAfter) {
    throw Error(
        fmt::format("step {}: the training loss has been {} for {} steps in a row: the run diverged (try a "
                    "lower --lr than {}{}); {}",
                    pos_.step, value, kDivergedAfter, c_.optim.lr, c_.optim.clip_norm > 0 ? "" : " or a --clip-norm",
                    last_checkpoint_.empty() ? std::string("no checkpoint was saved")
                                             : "the last checkpoint: " + last_checkpoint_));
  }
  return stepped;
}

double Trainer::dev_loss() {
  if (dev_sample_.empty()) return std::nan("");
  NoGradGuard no_grad;
  model_->eval();
  std::vector<Example> examples =
      training_examples(dev_sample_, data_.source_vocab, data_.target_vocab, c_.task.reverse_target);
  if (group_ != nullptr) {  // this rank's share
    const RowRange mine = shard_rows(examples.size(), std::size_t(group_->rank()), std::size_t(group_->size()));
    examples = std::vector<Example>(examples.begin() + std::ptrdiff_t(mine.begin),
                                    examples.begin() + std::ptrdiff_t(mine.end));
  }
  double sum = 0;
  std::size_t tokens = 0;
  for (const std::vector<std::size_t>& rows : sequential_batches(examples.size(), 256)) {
    Batch b = make_batch(examples, rows);
    std::size_t n = 0;
    for (std::size_t r : rows) n += examples[r].target.size() + 1;
    sum += model_->loss(b.source, b.lengths, b.target_in, b.target_out).item() * double(n);
    tokens += n;
    current_tape().reset();
  }
  model_->train();
  if (group_ != nullptr) {
    double totals[2] = {sum, double(tokens)};
    group_->allreduce_sum(std::span<double>(totals));
    return totals[0] / totals[1];
  }
  return sum / double(tokens);
}

Metadata Trainer::metadata() const {
  Metadata meta = model_metadata(options_, data_.source_vocab, data_.target_vocab, c_.task);
  meta[kRunKey] = stamp_to_json({.run = claim_.run, .lineage = claim_.lineage, .step = pos_.step});
  if (masks_) meta[kPruningKey] = pruning_metadata(masks_->sparsity(), c_.prune.global);
  return meta;
}

bool Trainer::parameters_finite() const {
  for (const Var& p : model_->parameters()) {
    if (!all_finite(p.value())) return false;
  }
  return true;
}

void Trainer::evaluate_dev() {
  if (dev_sample_.empty()) return;
  const auto start = clock_type::now();
  const double loss = dev_loss();
  Scores s = evaluate_items(dev_sample_, {.beam = 1, .reversed_target = c_.task.reverse_target});
  const double score = metric() == "wer" ? s.wer : -s.bleu;
  // A model that diverged is never the best, whatever its score (BLEU 0 of a NaN model is finite).
  const bool best = std::isfinite(loss) && std::isfinite(score) && score < pos_.best && parameters_finite();
  if (best) {
    pos_.best = score;
    pos_.best_step = pos_.step;
    if (lead()) save_checkpoint(*model_, fs::path(c_.out) / "best.safetensors", metadata());
  }
  if (plateau_) plateau_->step(score);
  const std::string line = metric() == "wer"
                               ? fmt::format("dev ({} words, greedy): WER {:.2f}% PER {:.2f}%", s.items, s.wer, s.per)
                               : fmt::format("dev ({} sentences, greedy): BLEU {:.2f}", s.items, s.bleu);
  progress_->print(fmt::format("step {} epoch {}: loss {:.4f} dev loss {:.4f}  {}{}", pos_.step, pos_.epoch + 1,
                               pos_.running_loss, loss, line, best ? "  (best)" : ""));
  nlohmann::json record = {
      {"step", pos_.step}, {"epoch", pos_.epoch + 1}, {"dev_loss", loss}, {"elapsed", pos_.elapsed}};
  if (metric() == "wer") {
    record["dev_wer"] = s.wer;
    record["dev_per"] = s.per;
  } else {
    record["dev_bleu"] = s.bleu;
  }
  if (log_) log_->write(record);
  pos_.history["dev_step"].push_back(pos_.step);
  pos_.history["dev_loss"].push_back(loss);
  pos_.history["dev_score"].push_back(metric() == "wer" ? s.wer : s.bleu);
  // Evaluation time counts against the budget too, but not towards tokens per second.
  pos_.elapsed += std::chrono::duration<double>(clock_type::now() - start).count();
}

bool Trainer::save_training_checkpoint_now() {
  if (!parameters_finite()) {
    progress_->print(fmt::format("step {}: parameters not finite; no checkpoint saved", pos_.step));
    return false;
  }
  NamedStates states{{"optimizer", optimizer_->state_dict()}};
  if (masks_) states["pruning"] = masks_->state_dict();
  if (schedule_) states["schedule"] = schedule_->state_dict();
  if (plateau_) states["plateau"] = plateau_->state_dict();
  Metadata meta = metadata();
  nlohmann::json training = {{"config", config_to_json(c_)},
                             {"position", position_to_json(pos_)},
                             {"options", c_.options},
                             {"generator", default_generator().state()}};
  if (const Generator* sampling = model_->sampling_generator()) training["sampling_generator"] = sampling->state();
  meta[kTrainingKey] = training.dump();
  const fs::path path = fs::path(c_.out) / checkpoint_name(pos_.step);
  if (!lead()) {  // rank 0 writes it
    last_checkpoint_ = path.string();
    return true;
  }
  save_training_checkpoint(path, *model_, states, meta);
  last_checkpoint_ = path.string();
  prune_checkpoints(c_.out, claim_.run, c_.keep);
  return true;
}

bool Trainer::train() {
  const std::size_t per_epoch = batcher_->batches_per_epoch();
  const double budget = budget_seconds();
  bool interrupted = false;
  while (pos_.step < pos_.total_steps) {
    // Over MPI ranks, every rank takes these decisions from the same time and stop request.
    const bool stop = agree_on_time_and_stop(stop_requested_ && stop_requested_());
    // Only a fresh run has a planner: a resumed run keeps the plan it saved.
    const std::optional<Replan> r =
        planner_ ? planner_->revise(pos_.step, pos_.elapsed, pos_.total_steps) : std::nullopt;
    if (r) {
      const std::string why =
          r->ended_early ? fmt::format("the plan ends with {:.0f} s of the budget left; ", budget - pos_.elapsed) : "";
      progress_->print(fmt::format(
          "{}{:.0f} ms per step over the last {} steps, evaluations included: {} steps fit "
          "{} minutes (planned: {})",
          why, 1000 * r->seconds_per_step, r->measured_steps, r->total_steps, c_.time_budget, pos_.total_steps));
      set_horizon(r->total_steps);
    }
    if (budget >= 0 && pos_.elapsed >= budget) {
      progress_->print(fmt::format("time budget of {} minutes reached at step {}", c_.time_budget, pos_.step));
      break;
    }
    if (stop) {
      interrupted = true;
      break;
    }
    const auto start = clock_type::now();
    Batch b = batcher_->batch(pos_.epoch, pos_.index);
    std::size_t tokens = 0;
    for (std::int64_t l : b.lengths) tokens += static_cast<std::size_t>(l);
    for (std::size_t row : b.rows) tokens += batcher_->examples()[row].target.size() + 1;
    train_step(b);
    if (++pos_.index == per_epoch) {
      pos_.index = 0;
      ++pos_.epoch;
    }
    pos_.elapsed += std::chrono::duration<double>(clock_type::now() - start).count();
    progress_->update(pos_.epoch + (pos_.index > 0), pos_.step, pos_.running_loss, tokens,
                      budget >= 0 ? budget - pos_.elapsed : -1);
    if (pos_.step % 50 == 0 && pos_.loss_count > 0) {
      const double mean = pos_.loss_sum / double(pos_.loss_count);
      if (log_)
        log_->write({{"step", pos_.step},
                     {"epoch", pos_.epoch + 1},
                     {"loss", mean},
                     {"lr", optimizer_->lr()},
                     {"tokens_per_second", progress_->tokens_per_second()},
                     {"elapsed", pos_.elapsed}});
      pos_.history["train_step"].push_back(pos_.step);
      pos_.history["train_loss"].push_back(mean);
      pos_.loss_sum = 0;
      pos_.loss_count = 0;
    }
    if (pos_.step % c_.eval_every == 0 || pos_.step == pos_.total_steps) evaluate_dev();
    if (c_.checkpoint_every && pos_.step % c_.checkpoint_every == 0) save_training_checkpoint_now();
  }
  return !interrupted;
}

std::string Trainer::end_training(bool stopped) {
  if (pos_.step % c_.eval_every != 0 && pos_.step != pos_.total_steps && !stopped) evaluate_dev();
  const bool saved = save_training_checkpoint_now();
  const std::string last = saved ? last_checkpoint_ : std::string("none (parameters not finite)");
  if (stopped) {
    progress_->finish();
  } else {
    progress_->print(
        fmt::format("trained {} steps in {}; checkpoint {}", pos_.step, format_duration(pos_.elapsed), last));
    if (masks_) {
      progress_->print(
          fmt::format("pruned: {:.1f}% of the {} weights of products", 100 * masks_->sparsity(), masks_->size()));
    }
  }
  return last;
}

TrainingCurves Trainer::curves() const {
  const nlohmann::json& h = pos_.history;
  TrainingCurves curves;
  if (h.contains("train_step")) {
    curves.train_step = h["train_step"].get<std::vector<double>>();
    curves.train_loss = h["train_loss"].get<std::vector<double>>();
  }
  if (h.contains("dev_step")) {
    curves.dev_step = h["dev_step"].get<std::vector<double>>();
    curves.dev_loss = h["dev_loss"].get<std::vector<double>>();
  }
  return curves;
}

std::vector<AttentionSample> Trainer::dev_attention(std::size_t count) {
  std::vector<Tokens> sources;
  for (std::size_t i = 0; i < std::min(count, dev_sample_.size()); ++i) sources.push_back(dev_sample_[i].source);
  if (sources.empty()) return {};
  std::vector<Prediction> predicted = decode_all(*model_, sources, data_.source_vocab, data_.target_vocab,
                                                 {.beam = 1, .reversed_target = c_.task.reverse_target});
  std::vector<AttentionSample> samples;
  for (std::size_t i = 0; i < sources.size(); ++i) samples.push_back({sources[i], std::move(predicted[i])});
  return samples;
}

void Trainer::report() {
  // The best model on dev (when there is one), scored with beam search.
  const fs::path best = fs::path(c_.out) / "best.safetensors";
  std::int64_t have_best[1] = {lead() && pos_.best_step > 0 && fs::exists(best) ? 1 : 0};
  if (group_ != nullptr) group_->allreduce_sum(std::span<std::int64_t>(have_best));
  if (have_best[0] > 0) {
    if (lead()) load_checkpoint(*model_, best);
    if (group_ != nullptr) {  // rank 0's file, which other machines may not see
      for (Var& p : model_->parameters()) group_->broadcast(p.mutable_value(), 0);
    }
    fmt::print("best dev score at step {}: {}\n", pos_.best_step, best.string());
  }
  const DecodeChoice decode{.beam = c_.beam, .reversed_target = c_.task.reverse_target};
  const std::string decoding = c_.beam > 1 ? fmt::format("beam {}", c_.beam) : "greedy";
  std::string test_line;
  if (!data_.dev.empty()) {
    Scores s = evaluate_items(data_.dev, decode);
    fmt::print("{} ({})\n", s.line("dev", metric()), decoding);
    if (log_) log_->write({{"split", "dev"}, {"decoding", decoding}, {"wer", s.wer}, {"per", s.per}, {"bleu", s.bleu}});
  }
  if (!data_.test.empty()) {
    Scores s = evaluate_items(data_.test, decode);
    test_line = s.line("test", metric());
    if (log_)
      log_->write({{"split", "test"},
                   {"decoding", decoding},
                   {"wer", s.wer},
                   {"per", s.per},
                   {"bleu", s.bleu},
                   {"rouge1", s.rouge1},
                   {"rouge2", s.rouge2},
                   {"rouge_l", s.rouge_l}});
  }
  std::vector<std::string> words = c_.words;
  if (words.empty() && data_.name == "g2p") words = kNewWords;
  if (!words.empty()) {
    std::vector<Tokens> sources;
    for (const std::string& w : words) sources.push_back(tokenize_source(w, c_.task));
    std::vector<Prediction> p = decode_all(*model_, sources, data_.source_vocab, data_.target_vocab, decode);
    fmt::print("new words ({}):\n", decoding);
    for (std::size_t i = 0; i < words.size(); ++i)
      fmt::print("  {:<18} {}\n", words[i], fmt::join(p[i].tokens[0], " "));
  }
  // Last, in the form scripts read: "test: WER 27.31% PER 6.52% (6398 words)".
  if (!test_line.empty()) fmt::print("test scores ({}):\n{}\n", decoding, test_line);
}

}  // namespace tg
