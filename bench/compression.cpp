// Int8 dynamic quantization against float32 decoding (docs/compression.md), in one run:
//   - the G2P model of a checkpoint (the main job's out/best.safetensors) on its test split:
//     greedy and beam 5, in batches of 64 words and one word at a time, words per second and
//     WER/PER of each;
//   - the reference workload's decoding (bench/SPEC.md: the medium model, B 64, length 30,
//     random weights), greedy and beam 5, sentences per second;
//   - the machine's sgemm rate, for comparing runs on other machines.
// Float and int8 decodings alternate, each timed --reps times; medians. The int8 model is the
// float model quantized in-process as `tapegrad quantize` does it (per-channel weights,
// activations per row).
//
// usage: bench_compression [--checkpoint PATH] [--words N] [--single-words N] [--reps R]
//                          [--threads T] [--no-reference]
#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "tapegrad.hpp"
#include "tapegrad/cli/fast_blas.hpp"
#include "tapegrad/train/evaluate.hpp"
#include "tapegrad/train/saved_model.hpp"
#include "timing.hpp"

namespace {

struct Options {
  std::string checkpoint = "out/best.safetensors";
  std::size_t words = 2000;        // test words decoded in batches of 64
  std::size_t single_words = 300;  // test words decoded one at a time
  int reps = 3;
  int threads = 1;
  bool reference = true;
};

double sgemm_gflops() {
  const std::size_t n = 1024;
  std::vector<float> a(n * n, 0.5f), b(n * n, 0.25f), c(n * n);
  std::vector<double> us;
  for (int i = 0; i < 5; ++i) {
    us.push_back(bench::time_us([&] { tg::gemm(false, false, n, n, n, a.data(), b.data(), false, c.data()); }));
  }
  return 2.0 * n * n * n / bench::stats_of(us).min_us / 1e3;
}

struct Timed {
  bench::Stats float32, int8;
  double speedup() const { return float32.median_us / int8.median_us; }
};

// Alternates the two, `reps` times after one warm-up each.
template <class F, class Q>
Timed alternate(const F& float_run, const Q& int8_run, int reps) {
  float_run();
  int8_run();
  std::vector<double> f, q;
  for (int i = 0; i < reps; ++i) {
    f.push_back(bench::time_us(float_run));
    q.push_back(bench::time_us(int8_run));
  }
  return {bench::stats_of(f), bench::stats_of(q)};
}

void g2p(const Options& o) {
  tg::SavedModel float_model = tg::load_saved_model(o.checkpoint);
  tg::SavedModel int8_model = tg::load_saved_model(o.checkpoint);
  if (float_model.int8) throw tg::Error(o.checkpoint + " is quantized already: give the float checkpoint");
  int8_model.int8 = tg::quantize_dynamic(*int8_model.model);
  std::vector<tg::Item> items =
      tg::load_split(float_model.task, "test", float_model.source_vocab, float_model.target_vocab);
  fmt::print(
      "G2P: {} ({} parameters, {} of them in {} int8 weights), test split of {} words\n", o.checkpoint,
      float_model.model->parameter_count(),
      [&] {
        std::size_t n = 0;
        for (const auto& p : tg::quantizable_weights(*int8_model.model, false)) n += p.var.size();
        return n;
      }(),
      int8_model.int8->size(), items.size());
  fmt::print("{:<8} {:>6} {:>6} {:>12} {:>12} {:>8} {:>16} {:>16}\n", "search", "batch", "words", "f32 words/s",
             "int8 words/s", "int8/f32", "f32 WER/PER", "int8 WER/PER");
  for (std::size_t beam : {1, 5}) {
    for (std::size_t batch : {64, 1}) {
      std::vector<tg::Item> part(
          items.begin(),
          items.begin() + static_cast<std::ptrdiff_t>(std::min(items.size(), batch == 1 ? o.single_words : o.words)));
      std::vector<tg::Tokens> sources;
      for (const tg::Item& item : part) sources.push_back(item.source);
      const tg::DecodeChoice choice{.beam = beam, .batch_size = batch};
      std::vector<tg::Prediction> pf, pq;
      const Timed t = alternate(
          [&] {
            pf =
                tg::decode_all(*float_model.model, sources, float_model.source_vocab, float_model.target_vocab, choice);
          },
          [&] {
            pq = tg::decode_all(*int8_model.model, sources, int8_model.source_vocab, int8_model.target_vocab, choice);
          },
          o.reps);
      const tg::Scores sf = tg::score_predictions(part, pf, "wer"), sq = tg::score_predictions(part, pq, "wer");
      const double n = double(part.size());
      fmt::print("{:<8} {:>6} {:>6} {:>12.0f} {:>12.0f} {:>7.2f}x {:>8.2f}/{:<7.2f} {:>8.2f}/{:<7.2f}\n",
                 beam == 1 ? "greedy" : "beam 5", batch, part.size(), n / t.float32.median_us * 1e6,
                 n / t.int8.median_us * 1e6, t.speedup(), sf.wer, sf.per, sq.wer, sq.per);
      std::fflush(stdout);
    }
  }
}

void reference(const Options& o) {
  constexpr std::size_t kBatch = 64, kLength = 30, kVocab = 8000;
  const tg::Seq2SeqOptions options = tg::Seq2SeqOptions::reference(kVocab, 256, 512);
  tg::Generator g1(42), g2(42);
  tg::Seq2Seq float_model(options, g1), int8_model(options, g2);
  float_model.eval();
  int8_model.eval();
  const auto int8 = tg::quantize_dynamic(int8_model);
  tg::Generator data(7);
  tg::Indices source = tg::Indices::from_shape({kBatch, kLength});
  for (std::size_t i = 0; i < source.size(); ++i)
    source.data()[i] = 1 + static_cast<std::int64_t>(data.uniform() * double(kVocab - 1));
  const std::vector<std::int64_t> lengths(kBatch, kLength);
  fmt::print("\nreference decoding (bench/SPEC.md): medium model, {} sentences of {} tokens, at most {} steps\n",
             kBatch, kLength, kLength);
  fmt::print("{:<8} {:>14} {:>14} {:>8}\n", "search", "f32 sent/s", "int8 sent/s", "int8/f32");
  tg::NoGradGuard no_grad;
  for (std::size_t beam : {1, 5}) {
    auto run = [&](const tg::Seq2Seq& m) {
      if (beam == 1) {
        tg::greedy_decode(m, source, lengths, {.max_length = kLength});
      } else {
        tg::beam_search(m, source, lengths,
                        {.beam_size = beam, .length_penalty = 0.6, .n_best = 1, .max_length = kLength});
      }
    };
    const Timed t = alternate([&] { run(float_model); }, [&] { run(int8_model); }, o.reps);
    fmt::print("{:<8} {:>14.1f} {:>14.1f} {:>7.2f}x\n", beam == 1 ? "greedy" : "beam 5",
               kBatch / t.float32.median_us * 1e6, kBatch / t.int8.median_us * 1e6, t.speedup());
    std::fflush(stdout);
  }
}

}  // namespace

int main(int argc, char** argv) {
  tg::restart_with_better_blas(argv);  // as the command line does: OpenBLAS's kernels for this CPU
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) throw tg::Error(a + " needs a value");
      return argv[++i];
    };
    if (a == "--checkpoint")
      o.checkpoint = value();
    else if (a == "--words")
      o.words = std::stoul(value());
    else if (a == "--single-words")
      o.single_words = std::stoul(value());
    else if (a == "--reps")
      o.reps = std::stoi(value());
    else if (a == "--threads")
      o.threads = std::stoi(value());
    else if (a == "--no-reference")
      o.reference = false;
    else {
      std::fprintf(stderr,
                   "usage: bench_compression [--checkpoint PATH] [--words N] [--single-words N] [--reps R] "
                   "[--threads T] [--no-reference]\n");
      return 2;
    }
  }
  try {
    tg::flush_denormals();
    fmt::print("sgemm (1 thread, 1024^3): {:.1f} GFLOP/s; OpenBLAS kernels {}\n",
               (tg::set_blas_threads(1), sgemm_gflops()), tg::blas_core_name());
    tg::set_blas_threads(o.threads);
    fmt::print("threads for products: {}\n\n", o.threads);
    g2p(o);
    if (o.reference) reference(o);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_compression: %s\n", e.what());
    return 1;
  }
}
