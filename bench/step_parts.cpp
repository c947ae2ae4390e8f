// tapegrad's reference training step (bench/SPEC.md) split into its parts, without
// LibTorch: zero_grad, forward, backward, Adam's step and the tape's reset, each the mean over
// the timed steps, and the step's minimum. For comparing two builds of tapegrad on a noisy
// machine, run their binaries alternately several times and compare the minima
// (docs/performance.md, "Fewer nodes per recurrent step").
//
// usage: [OPENBLAS_NUM_THREADS=N] [TG_SMALL_GEMM=never] [TG_BATCH_WEIGHT_GRADS=never] [TG_AB=switch]
//        bench_step_parts [tiny|small|medium] [steps]  (1 thread unless N is set)
// TG_AB=small_gemm or TG_AB=batch_weight_grads: every other step runs with that choice off
// (SmallGemm::never, or WeightGradBatching::never), and the two kinds of step get a median
// and minimum each: an A/B comparison whose halves see the same moments of a noisy host.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "policies.hpp"
#include "tapegrad.hpp"
#include "tapegrad/cli/fast_blas.hpp"
#include "timing.hpp"

int main(int argc, char** argv) {
  tg::restart_with_better_blas(argv);
  const int threads = std::getenv("OPENBLAS_NUM_THREADS") ? std::atoi(std::getenv("OPENBLAS_NUM_THREADS")) : 1;
  tg::set_blas_threads(threads < 1 ? 1 : threads);
  bench::apply_env_policies();  // TG_SMALL_GEMM, TG_BATCH_WEIGHT_GRADS (bench/policies.hpp)
  const std::string size = argc > 1 ? argv[1] : "small";
  struct Dims {
    std::size_t batch, vocab, embed, hidden, length;
  };
  Dims d{32, 1000, 64, 128, 20};
  if (size == "tiny")
    d = {1, 100, 32, 32, 10};
  else if (size == "medium")
    d = {64, 8000, 256, 512, 30};
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

  const std::string ab = std::getenv("TG_AB") ? std::getenv("TG_AB") : "";
  if (!ab.empty() && ab != "small_gemm" && ab != "batch_weight_grads") {
    std::fprintf(stderr, "TG_AB must be small_gemm or batch_weight_grads, got '%s'\n", ab.c_str());
    return 1;
  }
  const tg::SmallGemm small_gemm = tg::small_gemm();
  const tg::WeightGradBatching batching = tg::weight_grad_batching();

  const char* names[] = {"zero_grad", "forward", "backward", "adam", "reset"};
  double part_ms[5] = {};
  std::vector<double> step_us, off_us;   // off_us: the A/B's steps with the choice off
  for (int i = 0; i < steps + 3; ++i) {  // 3 warm-up steps
    const bool off = !ab.empty() && i % 2 == 1;
    tg::set_small_gemm(off && ab == "small_gemm" ? tg::SmallGemm::never : small_gemm);
    tg::set_weight_grad_batching(off && ab == "batch_weight_grads" ? tg::WeightGradBatching::never : batching);
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
    (off ? off_us : step_us).push_back(1000 * (t[5] - t[0]));
  }
  const bench::Stats s = bench::stats_of(step_us);
  std::printf("step_parts %s, %d steps, %d thread(s):", size.c_str(), steps, threads < 1 ? 1 : threads);
  for (int p = 0; p < 5; ++p) std::printf(" %s %.3f", names[p], part_ms[p]);
  std::printf(" ms (means); step median %.3f ms, min %.3f ms\n", s.median_us / 1000, s.min_us / 1000);
  if (!ab.empty()) {
    const bench::Stats o = bench::stats_of(off_us);
    std::printf(
        "A/B %s: on median %.3f ms, min %.3f ms (%zu steps); off median %.3f ms, min %.3f ms (%zu steps); "
        "off/on medians %.3f\n",
        ab.c_str(), s.median_us / 1000, s.min_us / 1000, step_us.size(), o.median_us / 1000, o.min_us / 1000,
        off_us.size(), o.median_us / s.median_us);
  }
}
