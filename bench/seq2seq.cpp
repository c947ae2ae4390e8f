// The reference seq2seq training step of bench/SPEC.md (docs/performance.md), in
// tapegrad (Seq2SeqOptions::reference) and in LibTorch (the same model written with torch::nn),
// alternating runs in one process after warm-up. Prints per size:
//   seq2seq small threads=1 tapegrad 12.3 ms libtorch 32.0 ms ratio 2.60
// and then tokens per second, the minimum times and the share of the sgemm rate measured in
// the same run. `--engine tapegrad|libtorch --steps N` runs one engine alone (for peak
// resident memory under /usr/bin/time -v).
//
// Then greedy and beam-5 decoding of the medium model (same weights in both engines):
//   decode beam5 threads=1 tapegrad 300.0 ms libtorch 700.0 ms ratio 2.33
//
// usage: bench_seq2seq [--task train|decode|all] [--size tiny|small|medium|all] [--threads N]
//                      [--reps N] [--block N] [--engine both|tapegrad|libtorch] [--steps N]
//                      [--libtorch-threads M] [--parallel blas|data]
// --parallel data: tapegrad splits each batch over --threads threads, one replica of the model
// and one OpenBLAS thread each (tg::DataParallel), for the steps and for decoding; blas (the
// default) gives OpenBLAS the threads instead.
// TG_SMALL_GEMM=never and TG_BATCH_WEIGHT_GRADS=never in the environment switch kernel choices off
// for A/B runs (bench/policies.hpp).
// --libtorch-threads M: LibTorch runs with M threads while tapegrad runs with N (--threads), for
// each engine in its best configuration on 2 cores; both share one OpenBLAS, whose thread count
// is set before each engine's run.
// --block N: steps each engine runs in a row per timed sample (default: 20 for tiny, else 1).
#include <cblas.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include <torch/torch.h>
#include <xtensor/xview.hpp>

#include "policies.hpp"
#include "seq2seq_models.hpp"
#include "tapegrad.hpp"
#include "tapegrad/cli/fast_blas.hpp"
#include "timing.hpp"

namespace {

// The workload in both engines (seq2seq_models.hpp).
using bench::best_tokens;
using bench::copy_weights;
using bench::Data;
using bench::forward_flops;
using bench::kSizes;
using bench::make_data;
using bench::OursStep;
using bench::Size;
using bench::TheirsStep;
using bench::torch_beam;
using bench::torch_greedy;
using bench::TorchSeq2Seq;

// Greedy and beam-5 decoding of a batch of 64 sentences of length 30 by the medium reference
// model, up to 30 output steps; the same weights in both engines, so both write the same tokens
// (up to float rounding, counted and printed).
// The thread counts of the two engines (the same unless --libtorch-threads), and a label for them.
struct Threads {
  int ours = 1, theirs = 1;
  std::string label() const {
    return ours == theirs ? std::to_string(ours) : std::to_string(ours) + "/" + std::to_string(theirs);
  }
};

// Runs f with OpenBLAS, which both engines share, at n threads. LibTorch's own intra-op pool is
// set once, to its count (main): resizing it between runs costs more than a small step.
template <class F>
void with_threads(int n, F&& f) {
  if (tg::blas_threads() != n) tg::set_blas_threads(n);
  f();
}

void bench_decoding(const Threads& threads, std::size_t shard_count, int reps, const std::string& engine) {
  const Size s = kSizes[2];
  const Data data = make_data(s);
  OursStep ours(s, data, shard_count);
  ours.model.eval();
  auto theirs = std::make_shared<TorchSeq2Seq>(s);
  copy_weights(ours.model, *theirs);
  theirs->eval();
  const torch::Tensor source = TheirsStep::tensor(data.source, s);
  const long max_length = static_cast<long>(s.length);
  for (const long beam : {1L, 5L}) {
    std::vector<std::vector<std::int64_t>> ours_out, theirs_out;
    auto decode = [&](const tg::Seq2Seq& m, const tg::Indices& source, const std::vector<std::int64_t>& lengths) {
      if (beam == 1) {
        std::vector<std::vector<tg::Hypothesis>> lists;
        for (tg::Hypothesis& h : tg::greedy_decode(m, source, lengths, {.max_length = s.length}))
          lists.push_back({std::move(h)});
        return best_tokens(lists);
      }
      return best_tokens(tg::beam_search(
          m, source, lengths,
          {.beam_size = std::size_t(beam), .length_penalty = 0.6, .n_best = 1, .max_length = s.length}));
    };
    auto run_ours = [&] {
      if (ours.parallel) {  // each thread decodes its rows with its replica
        std::vector<std::vector<std::vector<std::int64_t>>> parts(ours.shards.size());
        ours.parallel->run([&](std::size_t i, const tg::Seq2Seq& m) {
          parts[i] = decode(m, ours.shards[i].source, ours.shards[i].lengths);
          tg::current_tape().reset();
        });
        ours_out.clear();
        for (auto& part : parts) ours_out.insert(ours_out.end(), part.begin(), part.end());
      } else {
        ours_out = decode(ours.model, ours.source, ours.lengths);
      }
      tg::current_tape().reset();
    };
    auto run_theirs = [&] {
      theirs_out =
          beam == 1 ? torch_greedy(*theirs, source, max_length) : torch_beam(*theirs, source, beam, max_length, 0.6);
    };
    if (engine != "both") {  // one engine alone, for a profile
      for (int i = 0; i < (reps > 0 ? reps : 5); ++i) engine == "tapegrad" ? run_ours() : run_theirs();
      std::printf("decode beam=%ld threads=%s %s: done\n", beam, threads.label().c_str(), engine.c_str());
      continue;
    }
    const bench::Comparison c =
        bench::compare([&] { with_threads(threads.ours, run_ours); }, [&] { with_threads(threads.theirs, run_theirs); },
                       1, reps > 0 ? reps : 5);
    std::size_t same = 0, steps = 0;
    for (std::size_t b = 0; b < ours_out.size(); ++b) {
      same += b < theirs_out.size() && ours_out[b] == theirs_out[b];
      steps = std::max(steps, ours_out[b].size());
    }
    const double ours_ms = c.ours.median_us / 1e3, theirs_ms = c.theirs.median_us / 1e3;
    const std::string name = beam == 1 ? "greedy" : "beam5";
    std::printf("decode %s threads=%s tapegrad %.2f ms libtorch %.2f ms ratio %.2f\n", name.c_str(),
                threads.label().c_str(), ours_ms, theirs_ms, c.ratio());
    std::printf(
        "  sentences/s tapegrad %.0f libtorch %.0f; min tapegrad %.2f ms libtorch %.2f ms; "
        "the same best output for %zu of %zu sentences (longest %zu tokens)\n",
        double(s.batch) / (ours_ms / 1e3), double(s.batch) / (theirs_ms / 1e3), c.ours.min_us / 1e3,
        c.theirs.min_us / 1e3, same, ours_out.size(), steps);
    if (ours.parallel) {
      std::printf(
          "  tapegrad splits the batch over %zu threads, one replica and one OpenBLAS thread each (--parallel data)\n",
          ours.shards.size());
    }
    std::fflush(stdout);
  }
}

// The sgemm rate of this BLAS on a large square product, GFLOP/s.
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

}  // namespace

int main(int argc, char** argv) {
  tg::restart_with_better_blas(argv);  // both engines share this process's OpenBLAS
  std::string size = "all", engine = "both", task = "all";
  int threads = 1, reps = 0, steps = 10, block = 0, libtorch_threads = 0;
  std::string parallel = "blas";
  const char* usage =
      "usage: bench_seq2seq [--size tiny|small|medium|all] [--threads N] [--task train|decode|all]\n"
      "                     [--engine both|tapegrad|libtorch] [--reps R] [--block N] [--steps N]\n"
      "                     [--libtorch-threads M] [--parallel blas|data]\n";
  for (int i = 1; i < argc; i += 2) {
    const std::string key = argv[i];
    const bool help = key == "--help" || key == "-h";
    if (help || i + 1 == argc) {  // a lone word would otherwise run everything
      std::fprintf(help ? stdout : stderr, "%s", usage);
      return help ? 0 : 1;
    }
    const std::string value = argv[i + 1];
    if (key == "--size")
      size = value;
    else if (key == "--threads")
      threads = std::atoi(value.c_str());
    else if (key == "--reps")
      reps = std::atoi(value.c_str());
    else if (key == "--block")
      block = std::atoi(value.c_str());
    else if (key == "--libtorch-threads")
      libtorch_threads = std::atoi(value.c_str());
    else if (key == "--engine")
      engine = value;
    else if (key == "--steps")
      steps = std::atoi(value.c_str());
    else if (key == "--task")
      task = value;
    else if (key == "--parallel")
      parallel = value;
    else {
      std::fprintf(stderr, "bench_seq2seq: unknown option %s\n%s", key.c_str(), usage);
      return 1;
    }
  }
  if (parallel != "blas" && parallel != "data") {
    std::fprintf(stderr, "bench_seq2seq: unknown --parallel %s (blas or data)\n%s", parallel.c_str(), usage);
    return 1;
  }
  // --parallel data: tapegrad splits each batch over --threads threads (one OpenBLAS thread each).
  const std::size_t shard_count = parallel == "data" ? std::size_t(std::max(threads, 1)) : 1;
  const Threads both{threads, libtorch_threads > 0 ? libtorch_threads : threads};
  tg::set_blas_threads(threads);
  torch::set_num_threads(both.theirs);
  bench::apply_env_policies();  // TG_SMALL_GEMM, TG_BATCH_WEIGHT_GRADS (bench/policies.hpp)
  torch::manual_seed(1);
  // The machine's speed drifts (a shared host): the sgemm rate is measured again before and
  // after each size's comparison, and its best is the one the shares are taken against.
  double gemm_rate = engine == "both" ? sgemm_gflops() : 0;
  if (engine == "both") std::printf("sgemm %d thread(s): %.1f GFLOP/s (1024x1024x1024)\n", threads, gemm_rate);
  if (task != "all" && task != "train" && task != "decode") {
    std::fprintf(stderr, "bench_seq2seq: unknown task %s (train, decode or all)\n", task.c_str());
    return 1;
  }
  bool any = task == "decode";
  for (const Size& s : kSizes) {
    if (task == "decode") break;
    if (size != "all" && size != s.name) continue;
    any = true;
    const Data data = make_data(s);
    if (engine == "tapegrad" || engine == "libtorch") {  // one engine alone, for its peak memory
      if (engine == "tapegrad") {
        OursStep step(s, data, shard_count);
        for (int i = 0; i < steps; ++i) step();
      } else {
        TheirsStep step(s, data);
        for (int i = 0; i < steps; ++i) step();
      }
      std::printf("seq2seq %s threads=%d %s: %d steps done\n", s.name, threads, engine.c_str(), steps);
      continue;
    }
    OursStep ours(s, data, shard_count);
    TheirsStep theirs(s, data);
    const int n = reps > 0 ? reps : s.reps;
    gemm_rate = std::max(gemm_rate, sgemm_gflops());
    const int steps_per_sample = block > 0 ? block : s.block;
    const bench::Comparison c = bench::compare([&] { with_threads(both.ours, ours); },
                                               [&] { with_threads(both.theirs, theirs); }, 3, n, steps_per_sample);
    gemm_rate = std::max(gemm_rate, sgemm_gflops());
    const double tokens = double(s.batch * s.length);
    const double ours_ms = c.ours.median_us / 1e3, theirs_ms = c.theirs.median_us / 1e3;
    std::printf("seq2seq %s threads=%s tapegrad %.2f ms libtorch %.2f ms ratio %.2f\n", s.name, both.label().c_str(),
                ours_ms, theirs_ms, c.ratio());
    std::printf(
        "  tokens/s tapegrad %.0f libtorch %.0f; min tapegrad %.2f ms libtorch %.2f ms; "
        "sgemm share tapegrad %.0f%% libtorch %.0f%% (3 x %.2f GFLOP forward, sgemm %.0f GFLOP/s)\n",
        tokens / (ours_ms / 1e3), tokens / (theirs_ms / 1e3), c.ours.min_us / 1e3, c.theirs.min_us / 1e3,
        100 * 3 * forward_flops(s) / (ours_ms / 1e3) / (gemm_rate * 1e9),
        100 * 3 * forward_flops(s) / (theirs_ms / 1e3) / (gemm_rate * 1e9), forward_flops(s) / 1e9, gemm_rate);
    std::printf("  %d samples per engine, each the mean of %d step(s) in a row\n", n, steps_per_sample);
    if (ours.parallel) {
      std::printf(
          "  tapegrad splits the batch over %zu threads, one replica and one OpenBLAS thread each (--parallel data)\n",
          ours.shards.size());
    }
    if (both.ours != both.theirs) {
      std::printf("  tapegrad with %d thread(s), LibTorch with %d; both shares against the sgemm rate at %d\n",
                  both.ours, both.theirs, both.ours);
    }
    std::fflush(stdout);
  }
  if (!any) {
    std::fprintf(stderr, "bench_seq2seq: unknown size %s (tiny, small, medium or all)\n", size.c_str());
    return 1;
  }
  if (task != "train") bench_decoding(both, shard_count, reps, engine);
  return 0;
}
