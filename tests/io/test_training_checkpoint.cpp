// Training checkpoints: a run stopped after step n and resumed from its
// checkpoint ends bitwise equal to an uninterrupted run (model, optimizer,
// schedule and dropout's generator); files that do not fit are refused.
#include <doctest/doctest.h>

#include <cstring>
#include <memory>
#include <tuple>
#include <vector>

#include "io_helpers.hpp"
#include "tapegrad.hpp"

using namespace tg;
using namespace tg::test;

namespace {

Seq2SeqOptions small_options() {
  Seq2SeqOptions o;
  o.source_vocab_size = 9;
  o.target_vocab_size = 7;
  o.embedding_size = 6;
  o.hidden_size = 5;
  o.bidirectional = true;
  o.dropout = 0.3;  // draws from the default generator: its state must be restored too
  o.label_smoothing = 0.1;
  return o;
}

// Batch k of a fixed sequence of small batches.
struct Data {
  Indices source, target_in, target_out;
  std::vector<std::int64_t> lengths;
};
Data batch(int k) {
  Data d;
  d.source = Indices::from_shape({3, 4});
  d.target_in = Indices::from_shape({3, 3});
  d.target_out = Indices::from_shape({3, 3});
  for (std::size_t b = 0; b < 3; ++b) {
    for (std::size_t t = 0; t < 4; ++t) d.source(b, t) = 3 + std::int64_t((b * 5 + t * 3 + std::size_t(k)) % 6);
    d.target_in(b, 0) = 1;
    for (std::size_t t = 0; t < 2; ++t) {
      d.target_in(b, t + 1) = 3 + std::int64_t((b + t * 2 + std::size_t(k)) % 4);
      d.target_out(b, t) = d.target_in(b, t + 1);
    }
    d.target_out(b, 2) = 2;
  }
  d.lengths = {4, 3, 2};
  return d;
}

struct Run {
  std::unique_ptr<Seq2Seq> model;
  std::unique_ptr<Adam> adam;
  std::unique_ptr<LrScheduler> schedule;
  Run() {
    Generator init(11);
    model = std::make_unique<Seq2Seq>(small_options(), init);
    adam = std::make_unique<Adam>(weight_decay_groups(*model, 0.01), AdamOptions{.lr = 0.01});
    schedule =
        std::make_unique<LinearWarmup>(std::make_unique<CosineAnnealingLR>(*adam, CosineAnnealingLROptions{.t_max = 6}),
                                       LinearWarmupOptions{.start_factor = 0.1, .warmup_steps = 2});
  }
  void steps(int from, int to) {
    for (int k = from; k < to; ++k) {
      Data d = batch(k);
      adam->zero_grad();
      Var loss = model->loss(d.source, d.lengths, d.target_in, d.target_out);
      loss.backward();
      current_tape().reset();
      clip_grad_norm(adam->parameters(), 1.0);
      adam->step();
      schedule->step();
    }
  }
};

bool bitwise_equal(const Tensor& a, const Tensor& b) {
  if (a.shape() != b.shape() || a.dtype() != b.dtype()) return false;
  const std::vector<double> x = a.to_vector(), y = b.to_vector();
  return std::memcmp(x.data(), y.data(), x.size() * sizeof(double)) == 0;
}

}  // namespace

TEST_CASE("training checkpoint: stop after 3 steps, resume, 3 more == 6 uninterrupted steps, bitwise") {
  ScratchDir dir;
  const auto path = dir.path / "ckpt.safetensors";

  manual_seed(5);
  Run whole;
  whole.steps(0, 6);

  manual_seed(5);
  {
    Run first;
    first.steps(0, 3);
    save_training_checkpoint(path, *first.model,
                             {{"optimizer", first.adam->state_dict()}, {"schedule", first.schedule->state_dict()}},
                             {{"generator", default_generator().state()}, {"step", "3"}});
  }
  manual_seed(999);  // whatever the process did since: the checkpoint's state wins
  Run resumed;
  TrainingCheckpoint ckpt = load_training_checkpoint(path, *resumed.model);
  CHECK(ckpt.metadata.at("step") == "3");
  resumed.adam->load_state_dict(ckpt.states.at("optimizer"));
  resumed.schedule->load_state_dict(ckpt.states.at("schedule"));
  default_generator().set_state(ckpt.metadata.at("generator"));
  resumed.steps(3, 6);

  const StateDict a = whole.model->state_dict(), b = resumed.model->state_dict();
  REQUIRE(a.size() == b.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    CAPTURE(a[i].name);
    CHECK(bitwise_equal(a[i].value, b[i].value));
  }
  CHECK(whole.adam->lr() == resumed.adam->lr());
  const auto sa = whole.adam->state_dict(), sb = resumed.adam->state_dict();
  REQUIRE(sa.size() == sb.size());
  for (const auto& entry : sa) {
    const auto& key = std::get<0>(entry);
    const auto& value = std::get<1>(entry);
    CAPTURE(key);
    CHECK(bitwise_equal(value, sb.at(key)));
  }
}

TEST_CASE("training checkpoint: the model's part is a plain checkpoint; other models and bad names are refused") {
  ScratchDir dir;
  const auto path = dir.path / "ckpt.safetensors";
  Run run;
  run.steps(0, 1);
  save_training_checkpoint(path, *run.model, {{"optimizer", run.adam->state_dict()}}, {{"note", "x"}});

  // Loads as a plain (non-strict) checkpoint: the optimizer's keys are the only extra ones.
  Generator gen(3);
  Seq2Seq plain(small_options(), gen);
  LoadResult result = load_checkpoint(plain, path, {.strict = false});
  CHECK(result.missing_keys.empty());
  for (const std::string& key : result.unexpected_keys) CHECK(key.rfind("optimizer/", 0) == 0);
  CHECK(read_checkpoint_metadata(path).at("note") == "x");

  // Another configuration: nothing loaded, the message names the file and the keys.
  Seq2SeqOptions other = small_options();
  other.bidirectional = false;
  other.decoder_hidden_size = 5;
  Seq2Seq different(other, gen);
  const StateDict before = different.state_dict();
  try {
    load_training_checkpoint(path, different);
    FAIL("expected a CheckpointError");
  } catch (const CheckpointError& e) {
    const std::string message = e.what();
    CHECK(message.find(path.string()) != std::string::npos);
    CHECK(message.find("_reverse") != std::string::npos);
    CHECK(message.find("nothing was loaded") != std::string::npos);
  }
  const StateDict after = different.state_dict();
  for (std::size_t i = 0; i < before.size(); ++i) CHECK(bitwise_equal(before[i].value, after[i].value));

  CHECK_THROWS_WITH_AS(save_training_checkpoint(dir.path / "x.safetensors", *run.model, {{"a/b", {}}}),
                       doctest::Contains("free of '/'"), Error);
  CHECK_FALSE(std::filesystem::exists(dir.path / "x.safetensors"));
}
