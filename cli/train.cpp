// `tapegrad train`: trains an encoder-decoder (--arch rnn or transformer) on G2P (CMUdict) or on
// TSV files (train/trainer.hpp does the work), then draws its loss curve and
// attention heatmaps. Ctrl-C or SIGTERM stops it after the current step with a
// checkpoint and status 128 + the signal.
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "tapegrad/cli/bounds.hpp"
#include "tapegrad/cli/commands.hpp"
#include "tapegrad/cli/options.hpp"
#include "tapegrad/cli/run_options.hpp"
#include "tapegrad/data/tsv.hpp"
#include "tapegrad/data/utf8.hpp"
#include "tapegrad/dist/process_group.hpp"
#include "tapegrad/kernels/blas.hpp"
#include "tapegrad/plot/plot.hpp"
#include "tapegrad/train/run_state.hpp"
#include "tapegrad/train/trainer.hpp"

namespace tg::cli {
namespace {

namespace fs = std::filesystem;

/// What `tapegrad train` is given: the run, and what only the command line uses.
struct TrainCommand {
  TrainConfig run;
  bool plots = true;
  int threads = 1;
  bool distributed = false;  ///< --distributed, or started by mpirun
};

// Options a resumed run may be given anew: how long to run and what to write, not what it computes.
const std::set<std::string> kMayChangeOnResume = {"--steps",   "--epochs", "--time-budget", "--checkpoint-every",
                                                  "--keep",    "--beam",   "--words",       "--no-plots",
                                                  "--threads", "--out",    "--resume",      "--overwrite"};

// SIGINT (Ctrl-C) or SIGTERM (kill, schedulers): the run saves a checkpoint and exits with 128 + the signal.
volatile std::sig_atomic_t g_stop_signal = 0;
extern "C" void on_stop_signal(int signal) {
  g_stop_signal = signal;
  std::signal(signal, SIG_DFL);  // a second one stops at once
}

// A line of its own, flushed at once as the progress line's are.
void say(const std::string& line) {
  fmt::print("{}\n", line);
  std::fflush(stdout);
}

// loss.png (train and dev loss) and attention.png (attention of four dev items, by the model as trained).
void draw_plots(Trainer& trainer, const fs::path& out) {
  const TrainingCurves h = trainer.curves();
  PlotCurvesOptions curves;
  curves.title = "training";
  curves.y_label = "cross-entropy";
  if (!h.train_step.empty()) curves.series.push_back({.name = "train loss", .x = h.train_step, .y = h.train_loss});
  if (!h.dev_step.empty()) {
    curves.series.push_back({.name = "dev loss", .x = h.dev_step, .y = h.dev_loss, .markers = true});
  }
  if (!curves.series.empty()) {
    plot_curves(out / "loss.png", curves);
    say(fmt::format("loss curve: {}", (out / "loss.png").string()));
  }
  const std::vector<AttentionSample> samples = trainer.dev_attention(4);
  if (samples.empty()) return;
  std::vector<AttentionPlot> plots;
  for (const AttentionSample& s : samples) {
    AttentionPlot p;
    p.weights = s.prediction.attention;
    p.source_labels = s.source;
    p.target_labels = s.prediction.tokens[0];
    p.target_labels.push_back("</s>");
    p.target_labels.resize(p.weights.size(), "");
    std::string word;
    for (const std::string& t : s.source) word += t;
    p.title = word;
    plots.push_back(std::move(p));
  }
  plot_attention_grid(out / "attention.png", plots);
  say(fmt::format("attention heatmaps: {}", (out / "attention.png").string()));
}

// The run's exit status: 0, or 128 + the signal that stopped it.
int train(const TrainCommand& command) {
  ProcessGroup* group = command.distributed ? &ProcessGroup::world() : nullptr;
  const bool lead = group == nullptr || group->rank() == 0;
  // Rank 0 alone prints; every rank's errors still reach stderr.
  if (!lead && std::freopen("/dev/null", "w", stdout) == nullptr) {
    throw CLI::RuntimeError("rank " + std::to_string(group->rank()) + ": cannot silence its output", 1);
  }
  if (group != nullptr && lead) {
    fmt::print("distributed over {} MPI ranks: each takes 1/{} of every batch of {}\n", group->size(), group->size(),
               command.run.batch_size);
  }
  Trainer trainer(
      command.run, [] { return g_stop_signal != 0; }, group);
  try {
    trainer.prepare();
  } catch (const RunFolderError& e) {
    throw CLI::ValidationError("--out", e.what());  // a usage error: status 2
  }
  // Only around the steps: a signal while the data is read or the last checkpoint written stops at once.
  std::signal(SIGINT, on_stop_signal);
  std::signal(SIGTERM, on_stop_signal);
  const bool stopped = !trainer.train();
  std::signal(SIGINT, SIG_DFL);
  std::signal(SIGTERM, SIG_DFL);
  const std::string last = trainer.end_training(stopped);
  if (stopped) {
    const int signal = g_stop_signal;
    fmt::print("interrupted by {} at step {}: checkpoint written to {}; continue with --resume {}\n",
               signal == SIGTERM ? "SIGTERM" : "SIGINT", trainer.step(), last, last);
    return 128 + signal;
  }
  if (command.plots && lead) draw_plots(trainer, command.run.out);
  trainer.report();
  return 0;
}

}  // namespace

void add_train_command(CLI::App& app) {
  auto command = std::make_shared<TrainCommand>();
  TrainConfig* config = &command->run;
  CLI::App* c =
      app.add_subcommand("train", "train an encoder-decoder, recurrent or Transformer (G2P on CMUdict, or TSV files)");
  add_task_options(*c, config->task);
  add_model_options(*c, config->model);
  add_optim_options(*c, config->optim);
  const char* g = "Training";
  c->add_option("--batch-size", config->batch_size, "examples per step")
      ->check(whole_in(1, 1'000'000))
      ->capture_default_str()
      ->group(g);
  c->add_option("--epochs", config->epochs, "stop after this many epochs (0: no limit)")
      ->check(whole_in(0, 1'000'000))
      ->capture_default_str()
      ->group(g);
  c->add_option("--steps", config->steps, "stop after this many steps (0: no limit)")
      ->check(whole_in(0, max_steps))
      ->capture_default_str()
      ->group(g);
  c->add_option("--time-budget", config->time_budget, "minutes of training, evaluations included (0: none)")
      ->check(number_in(0, 525'600))  // a year
      ->capture_default_str()
      ->group(g);
  c->add_option("--eval-every", config->eval_every, "steps between dev evaluations (0: once per epoch)")
      ->check(whole_in(0, max_steps))
      ->capture_default_str()
      ->group(g);
  c->add_option("--dev-sample", config->dev_sample, "dev items scored during training (0: all)")
      ->check(whole_in(0, max_items))
      ->capture_default_str()
      ->group(g);
  c->add_option("--checkpoint-every", config->checkpoint_every,
                "steps between training checkpoints (0: only at the end)")
      ->check(whole_in(0, max_steps))
      ->capture_default_str()
      ->group(g);
  c->add_option("--keep", config->keep, "training checkpoints kept")
      ->check(whole_in(1, 1'000))
      ->capture_default_str()
      ->group(g);
  c->add_option("--out", config->out, "folder for checkpoints, the metrics log and the plots")
      ->capture_default_str()
      ->group(g);
  c->add_option("--resume", config->resume, "continue from this training checkpoint (its configuration is used)")
      ->group(g);
  c->add_flag("--overwrite", config->overwrite,
              "replace another run's files in --out (or, resuming, the checkpoints after the one resumed)")
      ->group(g);
  c->add_option("--seed", config->seed, "seed of the initialisation, the data order and dropout")
      ->check(whole_in(0, std::numeric_limits<std::uint64_t>::max()))
      ->capture_default_str()
      ->group(g);
  c->add_option("--beam", config->beam, "beam size of the final evaluation (1: greedy)")
      ->check(whole_in(1, max_beam))
      ->capture_default_str()
      ->group(g);
  c->add_option("--metric", config->metric, "wer (WER and PER), bleu (BLEU and ROUGE), or auto (wer for g2p)")
      ->check(CLI::IsMember({"auto", "wer", "bleu"}))
      ->group(g);
  c->add_option("--words", config->words, "sources to predict at the end (g2p: a few words not in CMUdict)")->group(g);
  c->add_flag("!--no-plots", command->plots, "do not draw loss.png and attention.png")->group(g);
  c->add_option("--workers", config->workers,
                "data-parallel replicas on threads, each on a share of every batch (1 or 2)")
      ->check(whole_in(1, 2))
      ->capture_default_str()
      ->group(g);
  const char* prune = "Pruning (docs/compression.md)";
  c->add_option("--init", config->init,
                "start from this saved model's parameters (fine-tuning; its model options must be this run's); "
                "a model from `tapegrad prune` keeps its pruned weights at zero")
      ->check(CLI::ExistingFile)
      ->group(prune);
  c->add_option("--prune-to", config->prune.to,
                "prune this fraction of the weights of products by magnitude while training (0: none)")
      ->check(number_in(0, 0.99))
      ->capture_default_str()
      ->group(prune);
  c->add_option("--prune-start", config->prune.start, "step of the first pruning")
      ->check(whole_in(0, max_steps))
      ->capture_default_str()
      ->group(prune);
  c->add_option("--prune-end", config->prune.end,
                "step at which --prune-to is reached, on Zhu and Gupta's cubic schedule (at or before "
                "--prune-start: all at once)")
      ->check(whole_in(0, max_steps))
      ->capture_default_str()
      ->group(prune);
  c->add_option("--prune-every", config->prune.every, "steps between prunings")
      ->check(whole_in(1, max_steps))
      ->capture_default_str()
      ->group(prune);
  c->add_option("--prune-scope", config->prune.global,
                "global: the smallest weights of all layers together; layer: the same fraction of each")
      ->transform(CLI::CheckedTransformer(std::map<std::string, bool>{{"global", true}, {"layer", false}}))
      ->capture_default_str()
      ->group(prune);
  const char* distill = "Distillation (docs/compression.md)";
  c->add_option("--teacher", config->distill.teachers,
                "a saved model of the same task to distil from (repeat for an ensemble: the mean of their "
                "distributions)")
      ->check(CLI::ExistingFile)
      ->group(distill);
  c->add_option("--distill-alpha", config->distill.alpha,
                "weight of the distillation term: (1 - alpha) cross entropy + alpha T^2 KL(teacher || student)")
      ->check(number_in(0, 1))
      ->capture_default_str()
      ->group(distill);
  c->add_option("--distill-temperature", config->distill.temperature, "T: both distributions are softmax(logits / T)")
      ->check(number_in(0, 100, Open::min))
      ->capture_default_str()
      ->group(distill);
  c->add_flag("--distributed", command->distributed,
              "train over the ranks of an MPI job (the default when started by mpirun: docs/distributed.md)")
      ->group(g);
  c->add_option("--threads", command->threads, "BLAS threads (one is faster for models of this size: docs/cli.md)")
      ->check(whole_in(1, 256))
      ->capture_default_str()
      ->group(g);
  c->callback([command, config, c]() {
    if (!config->resume.empty()) {
      const nlohmann::json saved = saved_run_options(config->resume);
      if (!saved.is_null()) apply_saved_options(*c, saved, kMayChangeOnResume, config->resume);
    }
    config->options = given_options(*c, {"--resume", "--out", "--overwrite"});
    // What would otherwise fail only after training, or after reading the data.
    for (const std::string& w : config->words) {
      if (!is_valid_utf8(w) || tokenize(w, Tokenization::whitespace).empty()) {
        throw CLI::ValidationError("--words", fmt::format("'{}' is not a word (no tokens, or not UTF-8)", w));
      }
    }
    if (config->resume.empty()) check_model_choice(*c, config->model);
    for (const char* option : {"--distill-alpha", "--distill-temperature"}) {
      if (c->count(option) != 0 && config->distill.teachers.empty()) {
        throw CLI::ValidationError(option, "applies only with --teacher");
      }
    }
    for (const char* option : {"--prune-start", "--prune-end", "--prune-every", "--prune-scope"}) {
      if (c->count(option) != 0 && config->prune.to == 0) {
        throw CLI::ValidationError(option, "applies only with --prune-to");
      }
    }
    if (launched_by_mpi()) command->distributed = true;
    // Under mpirun the ranks have the cores: one thread each, unless --workers says otherwise.
    if (command->distributed && c->count("--workers") == 0 && config->resume.empty()) config->workers = 1;
    set_blas_threads(command->threads);
    const int status = train(*command);
    if (status != 0) throw CLI::RuntimeError(status);
  });
}

}  // namespace tg::cli
