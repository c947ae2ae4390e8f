// tapegrad's reference training step (../shared/bench/SPEC.md) split into its parts, without
// LibTorch: zero_grad, forward, backward, Adam's step and the tape's reset, each the mean over
// the timed steps, and the step's minimum. For comparing two builds of tapegrad on a noisy
// machine, run their binaries alternately several times and compare the minima
// (docs/performance.md, "Fewer nodes per recurrent step").
//
// usage: [OPENBLAS_NUM_THREADS=N] [TG_SMALL_GEMM=never] bench_step_parts [tiny|small|medium] [steps]  (1 thread unless N is set)
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "tapegrad.hpp"
#include "timing.hpp"

int main(int argc, char** argv) {
  tg::restart_with_better_blas(argv);
  const int threads = std::getenv("OPENBLAS_NUM_THREADS") ? std::atoi(std::getenv("OPENBLAS_NUM_THREADS")) : 1;
  tg::set_blas_threads(threads < 1 ? 1 : threads);
  // TG_SMALL_GEMM=never: every product through OpenBLAS, for comparing with libxsmm's kernels.
  if (const char* policy = std::getenv("TG_SMALL_GEMM"); policy && std::string(policy) == "never") {
    tg::set_small_gemm(tg::SmallGemm::never);
  }
  const std::string size = argc > 1 ? argv[1] : "small";
  struct Dims {
    std::size_t batch, vocab, embed, hidden, length;
  };
  Dims d{32, 1000, 64, 128, 20};
  if (size == "tiny") d = {1, 100, 32, 32, 10};
  else if (size == "medium") d = {64, 8000, 256, 512, 30};
  else if (size != "small") {
    std::fprintf(stderr, "usage: bench_step_parts [tiny|small|medium] [steps]\n");
    return 1;
  }
  const int steps = argc > 2 ? std::atoi(argv[2]) : 100;
  tg::Seq2Seq model(tg::Seq2SeqOptions::reference(d.vocab, d.embed, d.hidden));
  tg::Adam adam(model.parameters(), tg::AdamOptions{.lr = 1e-3});
  // Random ids in [1, V) from a fixed seed.
  std::uint64_t state = 12345;
  auto ids = [&] {
    tg::Indices out = tg::Indices::from_shape({d.batch, d.length});
    for (auto& id : out) {
      state = state * 6364136223846793005ULL + 1442695040888963407ULL;
      id = static_cast<std::int64_t>(1 + (state >> 33) % (d.vocab - 1));
    }
    return out;
  };
  const tg::Indices source = ids(), target_in = ids(), target_out = ids();
  const std::vector<std::int64_t> lengths(d.batch, static_cast<std::int64_t>(d.length));

  const char* names[] = {"zero_grad", "forward", "backward", "adam", "reset"};
  double part_ms[5] = {};
  std::vector<double> step_us;
  for (int i = 0; i < steps + 3; ++i) {  // 3 warm-up steps
    double t[6];
    auto now = [] {
      return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now().time_since_epoch()).count();
    };
    t[0] = now();
    adam.zero_grad();
    t[1] = now();
    tg::Var loss = model.loss(source, lengths, target_in, target_out);
    t[2] = now();
    loss.backward();
    t[3] = now();
    adam.step();
    t[4] = now();
    tg::current_tape().reset();
    t[5] = now();
    if (i < 3) continue;
    for (int p = 0; p < 5; ++p) part_ms[p] += (t[p + 1] - t[p]) / steps;
    step_us.push_back(1000 * (t[5] - t[0]));
  }
  const bench::Stats s = bench::stats_of(step_us);
  std::printf("step_parts %s, %d steps, %d thread(s):", size.c_str(), steps, threads < 1 ? 1 : threads);
  for (int p = 0; p < 5; ++p) std::printf(" %s %.3f", names[p], part_ms[p]);
  std::printf(" ms (means); step median %.3f ms, min %.3f ms\n", s.median_us / 1000, s.min_us / 1000);
}
