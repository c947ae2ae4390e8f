// The Trainer on a tiny TSV task: it polls its stop request before every step, trains to
// its horizon without one, and keeps its position in the checkpoints it writes; the run
// state's JSON and the run folder's refusal.
#include <doctest/doctest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

#include "tapegrad/io/training_checkpoint.hpp"
#include "tapegrad/train/run_folder.hpp"
#include "tapegrad/train/run_state.hpp"
#include "tapegrad/train/saved_model.hpp"
#include "tapegrad/train/trainer.hpp"

namespace fs = std::filesystem;

namespace {

// A scratch folder, removed at the end of the test.
struct Scratch {
  fs::path dir = fs::temp_directory_path() / ("tapegrad_test_train_" + std::to_string(::getpid()));
  Scratch() {
    fs::remove_all(dir);
    fs::create_directories(dir);
  }
  ~Scratch() { fs::remove_all(dir); }
};

// Words and their letters reversed, as a TSV training file.
tg::TrainConfig tiny_run(const fs::path& dir) {
  std::ofstream tsv(dir / "train.tsv");
  const char* words[] = {"abc", "bca", "cab", "abd", "dab", "bad", "cad", "dac", "acd", "bcd"};
  for (const char* w : words) {
    const std::string s = w;
    tsv << s << '\t' << s[2] << ' ' << s[1] << ' ' << s[0] << '\n';
  }
  tg::TrainConfig c;
  c.task.task = "tsv";
  c.task.train_file = (dir / "train.tsv").string();
  c.model.embedding = 4;
  c.model.hidden = 4;
  c.model.encoder_layers = 1;
  c.batch_size = 4;
  c.steps = 5;
  c.workers = 1;
  c.checkpoint_every = 0;
  c.out = (dir / "out").string();
  return c;
}

tg::Position position_in(const fs::path& checkpoint) {
  const tg::Metadata meta = tg::read_checkpoint_metadata(checkpoint);
  return tg::position_from_json(nlohmann::json::parse(meta.at(tg::kTrainingKey)).at("position"));
}

}  // namespace

TEST_CASE("the Trainer stops before the step after its stop request says so, with a checkpoint") {
  Scratch scratch;
  int asked = 0;
  tg::Trainer trainer(tiny_run(scratch.dir), [&] { return ++asked > 3; });
  trainer.prepare();
  CHECK_FALSE(trainer.train());
  CHECK(asked == 4);
  CHECK(trainer.step() == 3);
  const std::string last = trainer.end_training(/*stopped=*/true);
  CHECK(last == (scratch.dir / "out" / "checkpoint-0000003.safetensors").string());
  CHECK(position_in(last).step == 3);
  CHECK(position_in(last).total_steps == 5);
}

TEST_CASE("without a stop request the Trainer trains to its horizon") {
  Scratch scratch;
  tg::Trainer trainer(tiny_run(scratch.dir), {});
  trainer.prepare();
  CHECK(trainer.train());
  CHECK(trainer.step() == 5);
  const std::string last = trainer.end_training(/*stopped=*/false);
  CHECK(last == (scratch.dir / "out" / "checkpoint-0000005.safetensors").string());
  CHECK(trainer.curves().train_step.empty());  // the loss is logged every 50 steps
  CHECK(trainer.dev_attention(4).empty());     // no dev set
  CHECK(tg::saved_run_options(last) == nlohmann::json::object());
}

TEST_CASE("a position survives its JSON") {
  tg::Position p;
  p.step = 1200;
  p.epoch = 3;
  p.index = 17;
  p.total_steps = 9098;
  p.elapsed = 412.5;
  p.best = 27.5;
  p.best_step = 1000;
  p.history["train_step"].push_back(50);
  p.loss_sum = 3.25;
  p.loss_count = 2;
  p.running_loss = 1.5;
  p.bad_losses = 1;
  const tg::Position q = tg::position_from_json(nlohmann::json::parse(tg::position_to_json(p).dump()));
  CHECK(q.step == p.step);
  CHECK(q.epoch == p.epoch);
  CHECK(q.index == p.index);
  CHECK(q.total_steps == p.total_steps);
  CHECK(q.elapsed == p.elapsed);
  CHECK(q.best == p.best);
  CHECK(q.best_step == p.best_step);
  CHECK(q.history == p.history);
  CHECK(q.loss_sum == p.loss_sum);
  CHECK(q.loss_count == p.loss_count);
  CHECK(q.running_loss == p.running_loss);
  CHECK(q.bad_losses == p.bad_losses);
  // No best score yet: infinity, saved as null.
  CHECK(std::isinf(tg::position_from_json(tg::position_to_json(tg::Position{})).best));
}

TEST_CASE("a folder with another run's files is refused with RunFolderError naming it") {
  Scratch scratch;
  std::ofstream(scratch.dir / "best.safetensors") << "not ours";
  CHECK_THROWS_AS(tg::claim_run_folder(scratch.dir, std::nullopt, /*overwrite=*/false), tg::RunFolderError);
  try {
    tg::claim_run_folder(scratch.dir, std::nullopt, false);
  } catch (const tg::RunFolderError& e) {
    CHECK(std::string(e.what()).find(scratch.dir.string()) != std::string::npos);
  }
  CHECK(fs::exists(scratch.dir / "best.safetensors"));
}
