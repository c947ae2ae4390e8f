// The reference seq2seq training step of bench/SPEC.md (docs/performance.md), in tapegrad
// (Seq2SeqOptions::reference) and in LibTorch (the same model written with torch::nn), and
// greedy and beam-5 decoding of the medium model with the same weights in both engines; the
// same for SPEC.md's Transformer (tg::TransformerSeq2Seq against torch::nn::Transformer, whose
// decoding recomputes the prefix at every step, as a LibTorch user's does).
//
// Each engine runs in every configuration it has on 2 cores (Config below): tapegrad "1",
// "2-data" (tg::DataParallel over 2 threads, one OpenBLAS thread each) and "2-blas" (OpenBLAS's
// 2 threads); LibTorch "i/b", intra-op threads i and OpenBLAS threads b, each of 1 and 2. Both
// engines share one OpenBLAS. After warm-up, the configurations take turns (bench::round_robin):
// in each timed sample every configuration runs once (a block of steps for tiny), in an order
// that rotates from sample to sample, so that all of them see the same moments of the machine.
// Per workload it prints every configuration's median, minimum, throughput and share of the
// sgemm rate of the threads it used, then two comparisons, ratio = LibTorch / tapegrad:
//   step small 1 thread: tapegrad 1 50.03 ms, libtorch 1/1 63.98 ms, ratio 1.28; ...
//   step small best on 2 cores: tapegrad 2-data 39.15 ms, libtorch 1/2 55.00 ms, ratio 1.40; ...
// The sgemm rates (1 and 2 OpenBLAS threads) are measured before and after each workload's
// pass; a pass during which either moved by more than 10% is repeated, at most twice, and
// flagged "noisy" if it moved on the last try too. `--runs R` repeats the whole table and ends
// with a markdown table of the medians over the runs, headed by the CPU, the instruction-set
// levels and OpenBLAS's core.
//
// usage: bench_seq2seq [--task train|decode|all]
//                      [--size tiny|small|medium|transformer-small|transformer|rnn|all] [--runs R]
//                      [--reps N] [--block N] [--configs LIST]
//                      [--engine both|tapegrad|libtorch] [--steps N]
// --configs LIST: the configurations to run, by label, comma-separated (default: all seven,
//   1,2-data,2-blas,1/1,1/2,2/1,2/2); e.g. --configs 2-data,1/2 runs one pair.
// --engine tapegrad|libtorch: that engine alone, in the first of --configs that is its own
//   (default "1" or "1/1"), --steps N training steps per size (for peak resident memory under
//   /usr/bin/time -v) or --reps decodings (for a profile).
// --reps N: timed samples per configuration (default per size; 5 for decoding).
// --block N: steps each configuration runs in a row per sample (default: 20 for tiny, else 1).
// TG_SMALL_GEMM=never, TG_BATCH_WEIGHT_GRADS=never and TG_KV_CACHE=never in the environment switch
// kernel choices and the Transformer's cache off for A/B runs (bench/policies.hpp); TAPEGRAD_ISA=avx2
// ATEN_CPU_CAPABILITY=avx2 measure an AVX-512 machine at AVX2 (tools/bench.sh --seq2seq does).
#include <ATen/Config.h>
#include <ATen/Parallel.h>
#include <ATen/Version.h>
#include <cblas.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <memory>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <torch/torch.h>

#include "policies.hpp"
#include "seq2seq_models.hpp"
#include "tapegrad.hpp"
#include "tapegrad/cli/fast_blas.hpp"
#include "timing.hpp"
#include "transformer_models.hpp"

namespace {

// The workloads in both engines (seq2seq_models.hpp, transformer_models.hpp).
using bench::copy_weights;
using bench::Data;
using bench::decode_rows;
using bench::forward_flops;
using bench::kLengthPenalty;
using bench::kSizes;
using bench::kTransformerSizes;
using bench::make_data;
using bench::OursStep;
using bench::OursTransformerStep;
using bench::Size;
using bench::TheirsStep;
using bench::TheirsTransformerStep;
using bench::Tokens;
using bench::torch_beam;
using bench::torch_greedy;
using bench::torch_transformer_beam;
using bench::torch_transformer_greedy;
using bench::TorchSeq2Seq;
using bench::TorchTransformer;
using bench::transformer_forward_flops;
using bench::TransformerSize;

// ---- Configurations: how an engine uses the 2 cores ----

enum class Engine { tapegrad, libtorch };

const char* engine_name(Engine engine) { return engine == Engine::tapegrad ? "tapegrad" : "libtorch"; }

// One way to run one engine: its own threads, OpenBLAS's threads and a label.
struct Config {
  Engine engine = Engine::tapegrad;
  int threads = 1;             // LibTorch: intra-op threads; tapegrad: tg::DataParallel's threads
  int blas_threads = 1;        // OpenBLAS's threads (one OpenBLAS, which both engines share)
  bool data_parallel = false;  // tapegrad splits the batch over `threads` threads, one replica each
  std::string label;           // "1", "2-data", "2-blas"; LibTorch's "i/b": intra-op i, OpenBLAS b

  // The cores it keeps busy: its share is taken against the sgemm rate of that many threads.
  int cores() const { return std::max(threads, blas_threads); }
  // The models a run of it needs (tg::DataParallel's shards).
  std::size_t shards() const { return data_parallel ? std::size_t(threads) : 1; }
  std::string name() const { return std::string(engine_name(engine)) + " " + label; }
};

// Every configuration on 2 cores; each engine's first is its 1-thread one.
const std::vector<Config>& all_configs() {
  static const std::vector<Config> configs = {
      {Engine::tapegrad, 1, 1, false, "1"},      {Engine::tapegrad, 2, 1, true, "2-data"},
      {Engine::tapegrad, 1, 2, false, "2-blas"}, {Engine::libtorch, 1, 1, false, "1/1"},
      {Engine::libtorch, 1, 2, false, "1/2"},    {Engine::libtorch, 2, 1, false, "2/1"},
      {Engine::libtorch, 2, 2, false, "2/2"}};
  return configs;
}

// The configurations a comma-separated list of labels names, in its order.
std::vector<Config> parse_configs(const std::string& list) {
  std::vector<Config> out;
  std::stringstream labels(list);
  for (std::string label; std::getline(labels, label, ',');) {
    const std::vector<Config>& all = all_configs();
    const auto it = std::find_if(all.begin(), all.end(), [&](const Config& c) { return c.label == label; });
    if (it == all.end()) {
      throw std::invalid_argument("unknown configuration " + label + " (1, 2-data, 2-blas, 1/1, 1/2, 2/1 or 2/2)");
    }
    if (std::any_of(out.begin(), out.end(), [&](const Config& c) { return c.label == label; })) {
      throw std::invalid_argument("configuration " + label + " named twice");
    }
    out.push_back(*it);
  }
  if (out.empty()) throw std::invalid_argument("--configs names no configuration");
  return out;
}

// Whether a configuration can run a step on `batch` sentences: a batch of one does not split.
bool runs_at(const Config& c, std::size_t batch) { return batch >= c.shards(); }

// The most models any of the configurations needs.
std::size_t most_shards(const std::vector<Config>& configs) {
  std::size_t most = 1;
  for (const Config& c : configs) most = std::max(most, c.shards());
  return most;
}

// LibTorch's intra-op threads. This build's ATen runs its parallel loops on OpenMP
// (at::get_parallel_info(): "ATen parallel backend: OpenMP"), which takes the count from the
// calling thread's omp_set_num_threads: 0.03 us. torch::set_num_threads does that too, but it
// also rebuilds the pthreadpool of QNNPACK and XNNPACK, which this float model never uses:
// 0.4 to 12 ms per call on the 2-core EPYC (even to the same count), and the new pool's
// threads spin on the other core for a while, slowing whatever runs next. So it is called once
// (start_libtorch_threads), and the switches between runs are OpenMP's.
void set_intra_op_threads(int threads) {
  if constexpr (AT_PARALLEL_OPENMP != 0) {
    omp_set_num_threads(threads);
  } else if (at::get_num_threads() != threads) {
    torch::set_num_threads(threads);
  }
}

// Sizes LibTorch's pools once, for the most intra-op threads of the configurations, and lets
// ATen finish its lazy set-up of this thread now (at::get_num_threads does), which would
// otherwise reset OpenMP's count at LibTorch's first parallel loop.
void start_libtorch_threads(const std::vector<Config>& configs) {
  int most = 1;
  for (const Config& c : configs) {
    if (c.engine == Engine::libtorch) most = std::max(most, c.threads);
  }
  torch::set_num_threads(most);
  if (at::get_num_threads() != most) throw std::runtime_error("LibTorch did not take its thread count");
}

// Sets a configuration's thread counts, before each run of its engine.
void use_threads(const Config& c) {
  if (tg::blas_threads() != c.blas_threads) tg::set_blas_threads(c.blas_threads);
  if (c.engine == Engine::libtorch) set_intra_op_threads(c.threads);
}

// ---- The sgemm rate, and how far it moves during a pass ----

// The sgemm rate of this BLAS at its current thread count on a large square product, GFLOP/s.
double sgemm_gflops() {
  const int n = 1024;
  std::vector<float> a(std::size_t(n) * n, 0.5f), b(std::size_t(n) * n, 0.25f), c(std::size_t(n) * n);
  auto run = [&] {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1, a.data(), n, b.data(), n, 0, c.data(), n);
  };
  run();
  std::vector<double> us;
  for (int i = 0; i < 10; ++i) us.push_back(bench::time_us(run));
  return 2.0 * n * n * n / bench::stats_of(us).min_us / 1e3;
}

// The sgemm rates with 1 and with 2 OpenBLAS threads, GFLOP/s.
struct SgemmRates {
  double one_thread = 0;
  double two_threads = 0;
  double at(int cores) const { return cores >= 2 ? two_threads : one_thread; }
};

SgemmRates measure_sgemm_rates() {
  SgemmRates rates;
  tg::set_blas_threads(1);
  rates.one_thread = sgemm_gflops();
  tg::set_blas_threads(2);
  rates.two_threads = sgemm_gflops();
  return rates;
}

// How far the rates moved from start to end: the larger relative change of the two.
double drift(const SgemmRates& start, const SgemmRates& end) {
  return std::max(std::abs(end.one_thread / start.one_thread - 1), std::abs(end.two_threads / start.two_threads - 1));
}

// ---- What to run ----

// The command line.
struct Options {
  std::string task = "all";     // train, decode or all
  std::string size = "all";     // the training step's size: tiny, small, medium or all
  std::string engine = "both";  // both, or one engine alone (tapegrad or libtorch)
  int runs = 1;                 // times the whole table is measured
  int reps = 0;                 // timed samples per configuration; 0: per size (5 for decoding)
  int block = 0;                // steps per sample; 0: per size
  int steps = 10;               // training steps of an engine alone
  std::vector<Config> configs = all_configs();
};

constexpr int kWarmupSteps = 3;    // training steps of each configuration before timing
constexpr int kWarmupDecodes = 1;  // decodings of each configuration before timing
constexpr int kDecodeSamples = 5;  // timed decodings of each configuration (--reps)
// The Transformer's: LibTorch recomputes the prefix at every step, 40-50 s a beam search here.
constexpr int kTransformerDecodeSamples = 3;
constexpr std::size_t kBeam = 5;      // beam search's width
constexpr double kNoiseLimit = 0.10;  // a pass during which an sgemm rate moves more is repeated
constexpr int kMostTries = 3;         // a pass and at most two repeats

// ---- Passes: one workload, every configuration round robin ----

// One configuration's timing in a pass.
struct Timed {
  Config config;
  bench::Stats stats;  // of one step, or of one decoding of the batch
  // Decoding: the sentences whose best output is the other engine's in its first configuration.
  std::optional<std::size_t> same;
};

// One workload measured in every configuration, and the sgemm rates around it.
struct Pass {
  std::string workload;      // "step small", "decode beam5"
  double forward_flops = 0;  // of one training step; 0 for decoding, which has no share
  double items = 0;          // per run: the step's tokens, or the batch's sentences
  std::string item_name;     // "tokens" or "sentences"
  std::string run_name;      // what one run is: "step" or "decoding"
  int samples = 0;
  int block = 1;
  std::vector<Timed> timed{};
  SgemmRates rates{};  // the higher of each rate measured at the pass's start and at its end
  double drift = 0;    // how far either rate moved between the two
  int tries = 1;       // more than 1 where noise repeated the pass
};

bool noisy(const Pass& p) { return p.drift > kNoiseLimit; }

// Times every contender round robin and puts each one's figures in pass.timed, in order.
void time_round_robin(Pass& pass, const std::vector<bench::Contender>& contenders, int warmup) {
  const std::vector<bench::Stats> stats = bench::round_robin(contenders, warmup, pass.samples, pass.block);
  for (std::size_t k = 0; k < stats.size(); ++k) pass.timed[k].stats = stats[k];
}

// A training step in both engines, whatever the model: tapegrad's (over its shards with
// data_parallel) and LibTorch's, with what the pass reports of it.
struct StepPair {
  std::string workload;      // "step small"
  double forward_flops = 0;  // of one step
  std::size_t batch = 0, length = 0;
  int samples = 0, block = 1;
  std::function<void(bool data_parallel)> ours;
  std::function<void()> theirs;
};

// The training step in every configuration; one model per engine, which every configuration
// of that engine trains on.
Pass train_pass(const StepPair& step, const Options& o) {
  Pass pass{.workload = step.workload,
            .forward_flops = step.forward_flops,
            .items = double(step.batch * step.length),
            .item_name = "tokens",
            .run_name = "step",
            .samples = o.reps > 0 ? o.reps : step.samples,
            .block = o.block > 0 ? o.block : step.block};
  std::vector<bench::Contender> contenders;
  for (const Config& c : o.configs) {
    if (!runs_at(c, step.batch)) continue;
    pass.timed.push_back({c, {}, {}});
    std::function<void()> run = step.theirs;
    if (c.engine == Engine::tapegrad) run = [&step, c] { step.ours(c.data_parallel); };
    contenders.push_back({[c] { use_threads(c); }, run});
  }
  time_round_robin(pass, contenders, kWarmupSteps);
  return pass;
}

// The reference model's step of size s.
Pass train_pass(const Size& s, const Options& o) {
  const Data data = make_data(s);
  OursStep ours(s, data, most_shards(o.configs));
  TheirsStep theirs(s, data);
  return train_pass({.workload = std::string("step ") + s.name,
                     .forward_flops = forward_flops(s),
                     .batch = s.batch,
                     .length = s.length,
                     .samples = s.reps,
                     .block = s.block,
                     .ours = [&](bool data_parallel) { ours.step(data_parallel); },
                     .theirs = [&] { theirs(); }},
                    o);
}

// The Transformer's step of size s.
Pass train_pass(const TransformerSize& s, const Options& o) {
  const Data data = make_data(s.batch, s.vocab, s.length);
  OursTransformerStep ours(s, data, most_shards(o.configs));
  TheirsTransformerStep theirs(s, data);
  return train_pass({.workload = std::string("step ") + s.name,
                     .forward_flops = transformer_forward_flops(s),
                     .batch = s.batch,
                     .length = s.length,
                     .samples = s.reps,
                     .block = 1,
                     .ours = [&](bool data_parallel) { ours.step(data_parallel); },
                     .theirs = [&] { theirs(); }},
                    o);
}

// A model in both engines with the same weights, and its batch of sentences to decode:
// the reference model at the medium size, or the Transformer at its own.
class DecodeModels {
 public:
  virtual ~DecodeModels() = default;
  // "" for the reference model, "transformer " for the Transformer: the workload's name part.
  virtual std::string model_name() const = 0;
  virtual std::size_t sentences() const = 0;
  virtual int samples() const { return kDecodeSamples; }  // timed decodings of each configuration
  // tapegrad's decoding of the batch; data_parallel: each thread decodes its rows with its replica.
  virtual Tokens ours(bool data_parallel, std::size_t beam) = 0;
  virtual Tokens theirs(std::size_t beam) = 0;
};

// tapegrad's decoding by a model held in a TapegradStep, one replica per shard when data_parallel.
template <class Step>
Tokens decode_with(Step& step, bool data_parallel, std::size_t beam, std::size_t max_length) {
  using Model = decltype(step.model);
  Tokens out;
  if (data_parallel) {
    std::vector<Tokens> parts(step.shards.size());
    step.parallel->run([&](std::size_t i, const Model& replica) {
      parts[i] = decode_rows(replica, step.shards[i].source, step.shards[i].lengths, beam, max_length);
      tg::current_tape().reset();
    });
    for (Tokens& part : parts) out.insert(out.end(), part.begin(), part.end());
  } else {
    out = decode_rows(step.model, step.source, step.lengths, beam, max_length);
  }
  tg::current_tape().reset();
  return out;
}

class ReferenceDecodeModels : public DecodeModels {
 public:
  explicit ReferenceDecodeModels(std::size_t shard_count) : ours_(size_, data_, shard_count) {
    ours_.model.eval();
    copy_weights(ours_.model, *theirs_);
    theirs_->eval();
  }
  std::string model_name() const override { return ""; }
  std::size_t sentences() const override { return size_.batch; }
  Tokens ours(bool data_parallel, std::size_t beam) override {
    return decode_with(ours_, data_parallel, beam, size_.length);
  }
  Tokens theirs(std::size_t beam) override {
    const long max_length = static_cast<long>(size_.length);
    return beam == 1 ? torch_greedy(*theirs_, source_, max_length)
                     : torch_beam(*theirs_, source_, static_cast<long>(beam), max_length, kLengthPenalty);
  }

 private:
  Size size_ = kSizes[2];
  Data data_ = make_data(size_);
  OursStep ours_;
  std::shared_ptr<TorchSeq2Seq> theirs_ = std::make_shared<TorchSeq2Seq>(size_);
  torch::Tensor source_ = TheirsStep::tensor(data_.source, size_.batch, size_.length);
};

class TransformerDecodeModels : public DecodeModels {
 public:
  explicit TransformerDecodeModels(std::size_t shard_count) : ours_(size_, data_, shard_count) {
    ours_.model.key_value_cache = bench::key_value_cache();
    ours_.model.eval();
    copy_weights(ours_.model, *theirs_);
    theirs_->eval();
  }
  std::string model_name() const override { return "transformer "; }
  int samples() const override { return kTransformerDecodeSamples; }
  std::size_t sentences() const override { return size_.batch; }
  Tokens ours(bool data_parallel, std::size_t beam) override {
    return decode_with(ours_, data_parallel, beam, size_.length);
  }
  Tokens theirs(std::size_t beam) override {
    const long max_length = static_cast<long>(size_.length);
    return beam == 1 ? torch_transformer_greedy(*theirs_, source_, max_length)
                     : torch_transformer_beam(*theirs_, source_, static_cast<long>(beam), max_length, kLengthPenalty);
  }

 private:
  TransformerSize size_ = kTransformerSizes[1];
  Data data_ = make_data(size_.batch, size_.vocab, size_.length);
  OursTransformerStep ours_;
  std::shared_ptr<TorchTransformer> theirs_ = std::make_shared<TorchTransformer>(size_);
  torch::Tensor source_ = TheirsStep::tensor(data_.source, size_.batch, size_.length);
};

// The first configuration of an engine in a pass, or null.
const Timed* first_of(const Pass& pass, Engine engine) {
  for (const Timed& t : pass.timed) {
    if (t.config.engine == engine) return &t;
  }
  return nullptr;
}

Engine other(Engine engine) { return engine == Engine::tapegrad ? Engine::libtorch : Engine::tapegrad; }

// Counts, for each configuration, the sentences whose best output is the other engine's in its
// first configuration (outputs[k]: what pass.timed[k] wrote).
void count_same(Pass& pass, const std::vector<Tokens>& outputs) {
  for (Timed& t : pass.timed) {
    const Timed* reference = first_of(pass, other(t.config.engine));
    if (reference == nullptr) continue;
    const Tokens& mine = outputs[std::size_t(&t - pass.timed.data())];
    const Tokens& theirs = outputs[std::size_t(reference - pass.timed.data())];
    std::size_t same = 0;
    for (std::size_t b = 0; b < mine.size(); ++b) same += b < theirs.size() && mine[b] == theirs[b];
    t.same = same;
  }
}

// Greedy (beam 1) or beam decoding of the batch in every configuration.
Pass decode_pass(DecodeModels& m, std::size_t beam, const Options& o) {
  Pass pass{
      .workload = "decode " + m.model_name() + (beam == 1 ? std::string("greedy") : "beam" + std::to_string(beam)),
      .items = double(m.sentences()),
      .item_name = "sentences",
      .run_name = "decoding",
      .samples = o.reps > 0 ? o.reps : m.samples()};
  std::vector<Tokens> outputs(o.configs.size());
  std::vector<bench::Contender> contenders;
  for (const Config& c : o.configs) {
    Tokens& out = outputs[pass.timed.size()];
    pass.timed.push_back({c, {}, {}});
    std::function<void()> run = [&m, &out, beam] { out = m.theirs(beam); };
    if (c.engine == Engine::tapegrad) run = [&m, &out, beam, c] { out = m.ours(c.data_parallel, beam); };
    contenders.push_back({[c] { use_threads(c); }, run});
  }
  time_round_robin(pass, contenders, kWarmupDecodes);
  count_same(pass, outputs);
  return pass;
}

// Runs a pass between two measurements of the sgemm rates, and again (kMostTries in all at
// most) while either rate moved by more than kNoiseLimit during it; the last try is kept.
Pass measured(const std::function<Pass()>& run_pass) {
  for (int tries = 1;; ++tries) {
    const SgemmRates start = measure_sgemm_rates();
    Pass pass = run_pass();
    const SgemmRates end = measure_sgemm_rates();
    pass.rates = {std::max(start.one_thread, end.one_thread), std::max(start.two_threads, end.two_threads)};
    pass.drift = drift(start, end);
    pass.tries = tries;
    if (!noisy(pass) || tries == kMostTries) return pass;
    fmt::print(
        "{}: sgemm moved {:.0f}% during the pass ({:.0f} -> {:.0f} GFLOP/s with 1 thread, {:.0f} -> {:.0f} with 2); "
        "again\n",
        pass.workload, 100 * pass.drift, start.one_thread, end.one_thread, start.two_threads, end.two_threads);
  }
}

// ---- Reports ----

// 3 x the step's forward FLOPs over its median time, against the sgemm rate of the cores the
// configuration keeps busy; none for decoding.
std::optional<double> sgemm_share(const Pass& pass, const Timed& t) {
  if (pass.forward_flops == 0) return std::nullopt;
  return 3 * pass.forward_flops / (t.stats.median_us / 1e6) / (pass.rates.at(t.config.cores()) * 1e9);
}

std::string percent(std::optional<double> share) { return share ? fmt::format("{:.0f}%", 100 * *share) : "-"; }

// tapegrad's and LibTorch's configurations that a comparison sets against each other.
struct Comparison {
  const Timed* ours = nullptr;
  const Timed* theirs = nullptr;
  bool complete() const { return ours != nullptr && theirs != nullptr; }
  // Above 1: tapegrad is faster.
  double ratio() const { return theirs->stats.median_us / ours->stats.median_us; }
};

// An engine's fastest configuration by median, among its 1-core ones where one_core; or null.
const Timed* fastest(const Pass& pass, Engine engine, bool one_core) {
  const Timed* best = nullptr;
  for (const Timed& t : pass.timed) {
    if (t.config.engine != engine || (one_core && t.config.cores() > 1)) continue;
    if (best == nullptr || t.stats.median_us < best->stats.median_us) best = &t;
  }
  return best;
}

Comparison one_thread(const Pass& p) {
  return {fastest(p, Engine::tapegrad, true), fastest(p, Engine::libtorch, true)};
}

Comparison best_on_two_cores(const Pass& p) {
  return {fastest(p, Engine::tapegrad, false), fastest(p, Engine::libtorch, false)};
}

double ms(const Timed& t) { return t.stats.median_us / 1e3; }

void print_comparison(const Pass& pass, const char* what, const Comparison& c) {
  if (!c.complete()) return;
  fmt::print("{} {}: tapegrad {} {:.2f} ms, libtorch {} {:.2f} ms, ratio {:.2f}", pass.workload, what,
             c.ours->config.label, ms(*c.ours), c.theirs->config.label, ms(*c.theirs), c.ratio());
  if (pass.forward_flops > 0) {
    fmt::print("; sgemm share tapegrad {} libtorch {}", percent(sgemm_share(pass, *c.ours)),
               percent(sgemm_share(pass, *c.theirs)));
  }
  fmt::print("\n");
}

// A pass's rows: every configuration, then the two comparisons.
void print_pass(const Pass& pass) {
  fmt::print(
      "{}: {} samples of each configuration, each the mean of {} {}(s) in a row, in rotating order; sgemm "
      "{:.0f} GFLOP/s with 1 thread, {:.0f} with 2 (moved {:.0f}% during the pass, try {} of at most {})\n",
      pass.workload, pass.samples, pass.block, pass.run_name, pass.rates.one_thread, pass.rates.two_threads,
      100 * pass.drift, pass.tries, kMostTries);
  for (const Timed& t : pass.timed) {
    fmt::print("  {:<16} {:10.2f} ms  min {:10.2f} ms  {:8.0f} {}/s", t.config.name(), ms(t), t.stats.min_us / 1e3,
               pass.items / (t.stats.median_us / 1e6), pass.item_name);
    if (const std::optional<double> share = sgemm_share(pass, t)) {
      fmt::print("  sgemm share {} of the {}-thread rate", percent(share), t.config.cores());
    }
    if (t.same) {
      fmt::print("  same best output as {}: {} of {}", first_of(pass, other(t.config.engine))->config.name(), *t.same,
                 pass.items);
    }
    fmt::print("\n");
  }
  print_comparison(pass, "1 thread", one_thread(pass));
  print_comparison(pass, "best on 2 cores", best_on_two_cores(pass));
  if (noisy(pass)) fmt::print("  noisy: sgemm moved {:.0f}% (on the last of {} tries)\n", 100 * pass.drift, pass.tries);
  std::fflush(stdout);
}

double median(const std::vector<double>& values) { return bench::stats_of(values).median_us; }

// One workload's passes of every run as one pass: the medians over the runs of each
// configuration's median and of the sgemm rates; the least minimum time, the fewest same
// outputs, the largest drift and the most tries.
Pass median_over_runs(const std::vector<Pass>& passes) {
  Pass summary = passes.front();
  auto over_runs = [&](const std::function<double(const Pass&)>& figure) {
    std::vector<double> values;
    for (const Pass& p : passes) values.push_back(figure(p));
    return values;
  };
  for (std::size_t k = 0; k < summary.timed.size(); ++k) {
    Timed& t = summary.timed[k];
    t.stats.median_us = median(over_runs([k](const Pass& p) { return p.timed[k].stats.median_us; }));
    const std::vector<double> mins = over_runs([k](const Pass& p) { return p.timed[k].stats.min_us; });
    t.stats.min_us = *std::min_element(mins.begin(), mins.end());
    for (const Pass& p : passes) {
      if (p.timed[k].same) t.same = std::min(*t.same, *p.timed[k].same);
    }
  }
  summary.rates.one_thread = median(over_runs([](const Pass& p) { return p.rates.one_thread; }));
  summary.rates.two_threads = median(over_runs([](const Pass& p) { return p.rates.two_threads; }));
  for (const Pass& p : passes) {
    summary.drift = std::max(summary.drift, p.drift);
    summary.tries = std::max(summary.tries, p.tries);
  }
  return summary;
}

// The CPU's model name as /proc/cpuinfo gives it.
std::string cpu_model() {
  std::ifstream cpuinfo("/proc/cpuinfo");
  for (std::string line; std::getline(cpuinfo, line);) {
    const std::size_t colon = line.find(':');
    if (line.rfind("model name", 0) == 0 && colon != std::string::npos) return line.substr(colon + 2);
  }
  return "unknown CPU";
}

// The level of LibTorch's kernels ("AVX2"), from at::show_config()'s "CPU capability usage".
std::string libtorch_cpu_capability() {
  const std::string config = at::show_config(), key = "CPU capability usage: ";
  const std::size_t at = config.find(key);
  if (at == std::string::npos) return "unknown";
  const std::size_t begin = at + key.size();
  return config.substr(begin, config.find('\n', begin) - begin);
}

std::string machine() {
  return fmt::format("{}; tapegrad at {}, LibTorch at {}; OpenBLAS core {}", cpu_model(),
                     tg::fast::isa_name(tg::fast::widest_isa()), libtorch_cpu_capability(), tg::blas_core_name());
}

// Notes on a workload's passes: the runs that stayed noisy, and for decoding how many sentences
// had the same best output in both engines.
std::string notes(const std::vector<Pass>& passes, const Pass& summary) {
  std::vector<std::string> out;
  for (std::size_t r = 0; r < passes.size(); ++r) {
    if (noisy(passes[r]))
      out.push_back(fmt::format("noisy: sgemm moved {:.0f}% in run {}", 100 * passes[r].drift, r + 1));
  }
  std::optional<std::size_t> fewest;
  for (const Timed& t : summary.timed) {
    if (t.same) fewest = std::min(fewest.value_or(*t.same), *t.same);
  }
  if (fewest) out.push_back(fmt::format("same best output for at least {} of {}", *fewest, summary.items));
  return fmt::format("{}", fmt::join(out, "; "));
}

void print_summary_row(const Pass& summary, const char* what, const Comparison& c, const std::string& note) {
  if (!c.complete()) return;
  fmt::print("| {} | {} | {:.2f} ms ({}) | {:.2f} ms ({}) | {:.2f} | {} / {} | {} |\n", summary.workload, what,
             ms(*c.ours), c.ours->config.label, ms(*c.theirs), c.theirs->config.label, c.ratio(),
             percent(sgemm_share(summary, *c.ours)), percent(sgemm_share(summary, *c.theirs)), note);
}

// Every configuration's median time, a column each (- where it did not run).
void print_every_config(const std::vector<Pass>& summaries, const std::vector<Config>& configs) {
  fmt::print("\nEvery configuration, median ms over the runs:\n\n| workload |");
  for (const Config& c : configs) fmt::print(" {} |", c.name());
  fmt::print("\n|---|");
  for (std::size_t k = 0; k < configs.size(); ++k) fmt::print("---|");
  fmt::print("\n");
  for (const Pass& summary : summaries) {
    fmt::print("| {} |", summary.workload);
    for (const Config& c : configs) {
      const auto it = std::find_if(summary.timed.begin(), summary.timed.end(),
                                   [&](const Timed& t) { return t.config.label == c.label; });
      fmt::print(" {} |", it == summary.timed.end() ? "-" : fmt::format("{:.2f}", ms(*it)));
    }
    fmt::print("\n");
  }
}

// The final tables, from runs[r][w], run r's pass of workload w: per workload the two
// comparisons of the medians over the runs, then every configuration's median.
void print_summary(const std::vector<std::vector<Pass>>& runs, const std::vector<Config>& configs) {
  std::vector<Pass> summaries;
  std::vector<std::string> notes_of;
  std::vector<double> one_thread_rates, two_thread_rates;
  for (std::size_t w = 0; w < runs.front().size(); ++w) {
    std::vector<Pass> passes;
    for (const std::vector<Pass>& run : runs) {
      passes.push_back(run[w]);
      one_thread_rates.push_back(run[w].rates.one_thread);
      two_thread_rates.push_back(run[w].rates.two_threads);
    }
    summaries.push_back(median_over_runs(passes));
    notes_of.push_back(notes(passes, summaries.back()));
  }
  fmt::print("\n## tapegrad against LibTorch, median of {} run(s)\n\n", runs.size());
  fmt::print(
      "{}; sgemm {:.0f} GFLOP/s with 1 thread, {:.0f} with 2 (medians over the passes). "
      "Ratio: LibTorch's time / tapegrad's. LibTorch i/b: intra-op threads i, OpenBLAS threads b.\n\n",
      machine(), median(one_thread_rates), median(two_thread_rates));
  fmt::print("| workload | comparison | tapegrad | LibTorch | ratio | sgemm share tapegrad / LibTorch | notes |\n");
  fmt::print("|---|---|---|---|---|---|---|\n");
  for (std::size_t w = 0; w < summaries.size(); ++w) {
    print_summary_row(summaries[w], "1 thread", one_thread(summaries[w]), notes_of[w]);
    print_summary_row(summaries[w], "best on 2 cores", best_on_two_cores(summaries[w]), notes_of[w]);
  }
  print_every_config(summaries, configs);
  std::fflush(stdout);
}

// ---- The command line ----

const char* const kUsage =
    "usage: bench_seq2seq [--task train|decode|all]\n"
    "                     [--size tiny|small|medium|transformer-small|transformer|rnn|all] [--runs R]\n"
    "                     [--reps N] [--block N] [--configs LIST]\n"
    "                     [--engine both|tapegrad|libtorch] [--steps N]\n"
    "--configs: labels, comma-separated, of 1,2-data,2-blas (tapegrad) and 1/1,1/2,2/1,2/2\n"
    "           (LibTorch: intra-op threads / OpenBLAS threads); default all seven\n";

int positive(const std::string& key, const std::string& value) {
  const int n = std::atoi(value.c_str());
  if (n < 1) throw std::invalid_argument(key + " " + value + ": a count of at least 1");
  return n;
}

void check_one_of(const std::string& key, const std::string& value, const std::vector<std::string>& allowed) {
  if (std::find(allowed.begin(), allowed.end(), value) == allowed.end()) {
    throw std::invalid_argument(fmt::format("{} {}: one of {}", key, value, fmt::join(allowed, ", ")));
  }
}

// Throws std::invalid_argument for what it cannot read.
Options parse_options(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; i += 2) {
    const std::string key = argv[i];
    if (i + 1 == argc) throw std::invalid_argument(key + " without a value");  // else a lone word runs everything
    const std::string value = argv[i + 1];
    if (key == "--task") {
      check_one_of(key, value, {"train", "decode", "all"});
      o.task = value;
    } else if (key == "--size") {
      check_one_of(key, value, {"tiny", "small", "medium", "transformer-small", "transformer", "rnn", "all"});
      o.size = value;
    } else if (key == "--engine") {
      check_one_of(key, value, {"both", "tapegrad", "libtorch"});
      o.engine = value;
    } else if (key == "--runs") {
      o.runs = positive(key, value);
    } else if (key == "--reps") {
      o.reps = positive(key, value);
    } else if (key == "--block") {
      o.block = positive(key, value);
    } else if (key == "--steps") {
      o.steps = positive(key, value);
    } else if (key == "--configs") {
      o.configs = parse_configs(value);
    } else if (key == "--threads" || key == "--parallel" || key == "--libtorch-threads") {
      throw std::invalid_argument(key + " is gone: every configuration runs round robin; --configs picks some");
    } else {
      throw std::invalid_argument("unknown option " + key);
    }
  }
  return o;
}

// A training step of one size, or decoding with one beam width.
struct Workload {
  const Size* size = nullptr;                    // the reference model's step of this size, or
  const TransformerSize* transformer = nullptr;  // the Transformer's step of this size, or, if both null,
  std::size_t beam = 0;                          // decoding with this beam (1: greedy)
  bool transformer_decoding = false;             // by the Transformer, else by the reference model
};

// --size names one size, "rnn" the reference model's three, "all" every size of both models.
// Decoding follows: the reference model's unless only Transformer sizes are named, the
// Transformer's with "all" or a Transformer size.
std::vector<Workload> workloads_of(const Options& o) {
  auto named = [&](const char* name, bool transformer) {
    return o.size == "all" || o.size == name || (!transformer && o.size == "rnn");
  };
  std::vector<Workload> out;
  bool rnn = false, transformer = false;
  for (const Size& s : kSizes) {
    if (!named(s.name, false)) continue;
    rnn = true;
    if (o.task != "decode") out.push_back({.size = &s});
  }
  for (const TransformerSize& s : kTransformerSizes) {
    if (!named(s.name, true)) continue;
    transformer = true;
    if (o.task != "decode") out.push_back({.transformer = &s});
  }
  if (o.task != "train") {
    for (std::size_t beam : {std::size_t(1), kBeam}) {
      if (rnn) out.push_back({.beam = beam});
      if (transformer) out.push_back({.beam = beam, .transformer_decoding = true});
    }
  }
  return out;
}

// Training steps of one engine alone.
template <class SizeT, class Ours, class Theirs>
void steps_alone(const Config& c, const SizeT& s, const Data& data, int steps) {
  if (!runs_at(c, s.batch)) {
    fmt::print("step {} {}: skipped, a batch of {} does not split\n", s.name, c.name(), s.batch);
    return;
  }
  if (c.engine == Engine::tapegrad) {
    Ours step(s, data, c.shards());
    for (int i = 0; i < steps; ++i) step.step(c.data_parallel);
    // The pool's view of the peak: live tensors at their high-water mark, and what the pool
    // holds from the system (live plus cached), which is what resident memory sees.
    const tg::MemoryStats m = tg::memory_stats();
    fmt::print("step {} {}: pool peak in use {} MiB, reserved {} MiB\n", s.name, c.name(), m.peak_in_use >> 20,
               m.bytes_reserved >> 20);
  } else {
    Theirs step(s, data);
    for (int i = 0; i < steps; ++i) step();
  }
  fmt::print("step {} {}: {} steps done\n", s.name, c.name(), steps);
}

std::unique_ptr<DecodeModels> decode_models(bool transformer, std::size_t shard_count) {
  if (transformer) return std::make_unique<TransformerDecodeModels>(shard_count);
  return std::make_unique<ReferenceDecodeModels>(shard_count);
}

// One engine alone in the first of the configurations that is its own: training steps (for
// its peak resident memory under /usr/bin/time -v) or decodings (for a profile).
void run_alone(const Options& o, const std::vector<Workload>& workloads) {
  const Engine engine = o.engine == "tapegrad" ? Engine::tapegrad : Engine::libtorch;
  const auto it = std::find_if(o.configs.begin(), o.configs.end(), [&](const Config& c) { return c.engine == engine; });
  if (it == o.configs.end()) throw std::invalid_argument("--configs names no configuration of " + o.engine);
  const Config& c = *it;
  if (engine == Engine::libtorch) torch::set_num_threads(c.threads);
  use_threads(c);
  std::unique_ptr<DecodeModels> decode[2];
  for (const Workload& w : workloads) {
    if (w.size != nullptr) {
      steps_alone<Size, OursStep, TheirsStep>(c, *w.size, make_data(*w.size), o.steps);
      continue;
    }
    if (w.transformer != nullptr) {
      const TransformerSize& s = *w.transformer;
      steps_alone<TransformerSize, OursTransformerStep, TheirsTransformerStep>(
          c, s, make_data(s.batch, s.vocab, s.length), o.steps);
      continue;
    }
    std::unique_ptr<DecodeModels>& models = decode[w.transformer_decoding];
    if (!models) models = decode_models(w.transformer_decoding, c.shards());
    for (int i = 0; i < (o.reps > 0 ? o.reps : models->samples()); ++i) {
      if (engine == Engine::tapegrad) {
        models->ours(c.data_parallel, w.beam);
      } else {
        models->theirs(w.beam);
      }
    }
    fmt::print("decode {}beam {} {}: done\n", models->model_name(), w.beam, c.name());
  }
}

// Every workload in every configuration, round robin, --runs times; then the medians.
void run_table(const Options& o, const std::vector<Workload>& workloads) {
  start_libtorch_threads(o.configs);
  fmt::print("{}\n", machine());
  std::unique_ptr<DecodeModels> decode[2];
  for (const Workload& w : workloads) {
    if (w.beam > 0 && !decode[w.transformer_decoding]) {
      decode[w.transformer_decoding] = decode_models(w.transformer_decoding, most_shards(o.configs));
    }
  }
  std::vector<std::vector<Pass>> runs;
  for (int r = 0; r < o.runs; ++r) {
    fmt::print("== run {} of {}\n", r + 1, o.runs);
    std::vector<Pass>& passes = runs.emplace_back();
    for (const Workload& w : workloads) {
      passes.push_back(measured([&] {
        if (w.size != nullptr) return train_pass(*w.size, o);
        if (w.transformer != nullptr) return train_pass(*w.transformer, o);
        return decode_pass(*decode[w.transformer_decoding], w.beam, o);
      }));
      print_pass(passes.back());
    }
  }
  print_summary(runs, o.configs);
}

}  // namespace

int main(int argc, char** argv) {
  tg::restart_with_better_blas(argv);  // both engines share this process's OpenBLAS
  if (argc == 2 && (std::string(argv[1]) == "--help" || std::string(argv[1]) == "-h")) {
    std::fputs(kUsage, stdout);
    return 0;
  }
  try {
    const Options options = parse_options(argc, argv);
    bench::apply_env_policies();  // TG_SMALL_GEMM, TG_BATCH_WEIGHT_GRADS (bench/policies.hpp)
    torch::manual_seed(1);
    const std::vector<Workload> workloads = workloads_of(options);
    if (options.engine == "both") {
      run_table(options, workloads);
    } else {
      run_alone(options, workloads);
    }
  } catch (const std::invalid_argument& e) {
    std::fprintf(stderr, "bench_seq2seq: %s\n%s", e.what(), kUsage);
    return 1;
  }
  return 0;
}
