// The reference seq2seq training step of ../shared/bench/SPEC.md (docs/performance.md), in
// tapegrad (Seq2SeqOptions::reference) and in LibTorch (the same model written with torch::nn),
// alternating runs in one process after warm-up. Prints per size:
//   seq2seq small threads=1 tapegrad 12.3 ms libtorch 32.0 ms ratio 2.60
// and then tokens per second, the minimum times and the share of the sgemm rate measured in
// the same run. `--engine tapegrad|libtorch --steps N` runs one engine alone (for peak
// resident memory under /usr/bin/time -v).
//
// usage: bench_seq2seq [--size tiny|small|medium|all] [--threads N] [--reps N]
//                      [--engine both|tapegrad|libtorch] [--steps N]
#include <cblas.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "tapegrad.hpp"
#include "timing.hpp"

namespace {

struct Size {
  const char* name;
  std::size_t batch, vocab, embed, hidden, length;
  int reps;  // timed steps per engine
};

const Size kSizes[] = {{"tiny", 1, 100, 32, 32, 10, 200}, {"small", 32, 1000, 64, 128, 20, 30},
                       {"medium", 64, 8000, 256, 512, 30, 5}};

// Forward GEMM FLOPs of one step, as SPEC.md counts them.
double forward_flops(const Size& s) {
  const double h = double(s.hidden), e = double(s.embed), v = double(s.vocab), t = double(s.length);
  const double per_token = 8 * h * (e + h) + 8 * h * (e + 2 * h) + 4 * v * h + 4 * h * h + 4 * t * h;
  return per_token * double(s.batch) * t;
}

// Random ids in [1, V) from a fixed seed: source, decoder input and target (no padding).
struct Data {
  std::vector<std::int64_t> source, target_in, target_out;
};

Data make_data(const Size& s) {
  Data d;
  std::uint64_t state = 12345;
  auto next = [&] {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    return static_cast<std::int64_t>(1 + (state >> 33) % (s.vocab - 1));
  };
  for (std::size_t i = 0; i < s.batch * s.length; ++i) {
    d.source.push_back(next());
    d.target_out.push_back(next());
  }
  for (std::size_t b = 0; b < s.batch; ++b) {
    d.target_in.push_back(1);  // a start token
    for (std::size_t t = 0; t + 1 < s.length; ++t) d.target_in.push_back(d.target_out[b * s.length + t]);
  }
  return d;
}

// tapegrad: the zoo's reference model and Adam.
struct OursStep {
  tg::Seq2Seq model;
  tg::Adam adam;
  tg::Indices source, target_in, target_out;
  std::vector<std::int64_t> lengths;

  OursStep(const Size& s, const Data& d)
      : model(tg::Seq2SeqOptions::reference(s.vocab, s.embed, s.hidden)),
        adam(model.parameters(), tg::AdamOptions{.lr = 1e-3}),
        source(indices(d.source, s)),
        target_in(indices(d.target_in, s)),
        target_out(indices(d.target_out, s)),
        lengths(s.batch, static_cast<std::int64_t>(s.length)) {}

  static tg::Indices indices(const std::vector<std::int64_t>& ids, const Size& s) {
    tg::Indices out = tg::Indices::from_shape({s.batch, s.length});
    std::copy(ids.begin(), ids.end(), out.begin());
    return out;
  }

  void operator()() {
    adam.zero_grad();
    tg::Var loss = model.loss(source, lengths, target_in, target_out);
    loss.backward();
    adam.step();
    tg::current_tape().reset();
  }
};

// LibTorch: the same model, written as SPEC.md describes it.
struct TorchSeq2Seq : torch::nn::Module {
  torch::nn::Embedding source_embedding{nullptr}, target_embedding{nullptr};
  torch::nn::LSTM encoder{nullptr};
  torch::nn::LSTMCell cell{nullptr};
  torch::nn::Linear keys{nullptr}, query{nullptr}, output{nullptr};
  torch::Tensor v;

  TorchSeq2Seq(const Size& s) {
    const auto V = static_cast<long>(s.vocab), E = static_cast<long>(s.embed), H = static_cast<long>(s.hidden);
    source_embedding = register_module("source_embedding", torch::nn::Embedding(torch::nn::EmbeddingOptions(V, E).padding_idx(0)));
    target_embedding = register_module("target_embedding", torch::nn::Embedding(torch::nn::EmbeddingOptions(V, E).padding_idx(0)));
    encoder = register_module("encoder", torch::nn::LSTM(torch::nn::LSTMOptions(E, H).batch_first(true)));
    cell = register_module("cell", torch::nn::LSTMCell(E + H, H));
    keys = register_module("keys", torch::nn::Linear(torch::nn::LinearOptions(H, H).bias(false)));
    query = register_module("query", torch::nn::Linear(H, H));
    v = register_parameter("v", torch::randn({H}) * 0.1);
    output = register_module("output", torch::nn::Linear(2 * H, V));
  }

  torch::Tensor loss(const torch::Tensor& source, const torch::Tensor& target_in, const torch::Tensor& target_out) {
    auto [h, final_state] = encoder->forward(source_embedding(source));
    const torch::Tensor k = keys(h);
    const torch::Tensor padding = source.eq(0);
    torch::Tensor s = std::get<0>(final_state).squeeze(0), c = std::get<1>(final_state).squeeze(0);
    torch::Tensor context = torch::zeros_like(s);
    const torch::Tensor embedded = target_embedding(target_in);
    std::vector<torch::Tensor> outputs;
    for (long t = 0; t < target_in.size(1); ++t) {
      std::tie(s, c) = cell(torch::cat({embedded.select(1, t), context}, 1), std::make_tuple(s, c));
      torch::Tensor scores = torch::tanh(k + query(s).unsqueeze(1)).matmul(v);
      scores = scores.masked_fill(padding, -std::numeric_limits<float>::infinity());
      context = torch::bmm(torch::softmax(scores, 1).unsqueeze(1), h).squeeze(1);
      outputs.push_back(torch::cat({s, context}, 1));
    }
    const torch::Tensor logits = output(torch::stack(outputs, 1));
    return torch::nn::functional::cross_entropy(logits.reshape({-1, logits.size(2)}), target_out.reshape(-1),
                                                torch::nn::functional::CrossEntropyFuncOptions().ignore_index(0));
  }
};

struct TheirsStep {
  std::shared_ptr<TorchSeq2Seq> model;
  torch::optim::Adam adam;
  torch::Tensor source, target_in, target_out;

  TheirsStep(const Size& s, const Data& d)
      : model(std::make_shared<TorchSeq2Seq>(s)),
        adam(model->parameters(), torch::optim::AdamOptions(1e-3)),
        source(tensor(d.source, s)),
        target_in(tensor(d.target_in, s)),
        target_out(tensor(d.target_out, s)) {}

  static torch::Tensor tensor(const std::vector<std::int64_t>& ids, const Size& s) {
    return torch::tensor(ids, torch::kLong).reshape({static_cast<long>(s.batch), static_cast<long>(s.length)});
  }

  void operator()() {
    adam.zero_grad();
    torch::Tensor loss = model->loss(source, target_in, target_out);
    loss.backward();
    adam.step();
  }
};

// The sgemm rate of this BLAS on a large square product, GFLOP/s.
double sgemm_gflops() {
  const int n = 1024;
  std::vector<float> a(std::size_t(n) * n, 0.5f), b(std::size_t(n) * n, 0.25f), c(std::size_t(n) * n);
  auto run = [&] { cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1, a.data(), n, b.data(), n, 0, c.data(), n); };
  run();
  std::vector<double> us;
  for (int i = 0; i < 10; ++i) us.push_back(bench::time_us(run));
  return 2.0 * n * n * n / bench::stats_of(us).min_us / 1e3;
}

}  // namespace

int main(int argc, char** argv) {
  tg::restart_with_better_blas(argv);  // both engines share this process's OpenBLAS
  std::string size = "all", engine = "both";
  int threads = 1, reps = 0, steps = 10;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string key = argv[i], value = argv[i + 1];
    if (key == "--size") size = value;
    else if (key == "--threads") threads = std::atoi(value.c_str());
    else if (key == "--reps") reps = std::atoi(value.c_str());
    else if (key == "--engine") engine = value;
    else if (key == "--steps") steps = std::atoi(value.c_str());
    else {
      std::fprintf(stderr, "bench_seq2seq: unknown option %s\n", key.c_str());
      return 1;
    }
  }
  tg::set_blas_threads(threads);
  torch::set_num_threads(threads);
  torch::manual_seed(1);
  const double gemm_rate = engine == "both" ? sgemm_gflops() : 0;
  if (engine == "both") std::printf("sgemm %d thread(s): %.1f GFLOP/s (1024x1024x1024)\n", threads, gemm_rate);
  bool any = false;
  for (const Size& s : kSizes) {
    if (size != "all" && size != s.name) continue;
    any = true;
    const Data data = make_data(s);
    if (engine == "tapegrad" || engine == "libtorch") {  // one engine alone, for its peak memory
      if (engine == "tapegrad") {
        OursStep step(s, data);
        for (int i = 0; i < steps; ++i) step();
      } else {
        TheirsStep step(s, data);
        for (int i = 0; i < steps; ++i) step();
      }
      std::printf("seq2seq %s threads=%d %s: %d steps done\n", s.name, threads, engine.c_str(), steps);
      continue;
    }
    OursStep ours(s, data);
    TheirsStep theirs(s, data);
    const int n = reps > 0 ? reps : s.reps;
    const bench::Comparison c = bench::compare([&] { ours(); }, [&] { theirs(); }, 3, n);
    const double tokens = double(s.batch * s.length);
    const double ours_ms = c.ours.median_us / 1e3, theirs_ms = c.theirs.median_us / 1e3;
    std::printf("seq2seq %s threads=%d tapegrad %.2f ms libtorch %.2f ms ratio %.2f\n", s.name, threads, ours_ms,
                theirs_ms, c.ratio());
    std::printf("  tokens/s tapegrad %.0f libtorch %.0f; min tapegrad %.2f ms libtorch %.2f ms; "
                "sgemm share tapegrad %.0f%% libtorch %.0f%% (3 x %.2f GFLOP forward)\n",
                tokens / (ours_ms / 1e3), tokens / (theirs_ms / 1e3), c.ours.min_us / 1e3, c.theirs.min_us / 1e3,
                100 * 3 * forward_flops(s) / (ours_ms / 1e3) / (gemm_rate * 1e9),
                100 * 3 * forward_flops(s) / (theirs_ms / 1e3) / (gemm_rate * 1e9), forward_flops(s) / 1e9);
    std::fflush(stdout);
  }
  if (!any) {
    std::fprintf(stderr, "bench_seq2seq: unknown size %s (tiny, small, medium or all)\n", size.c_str());
    return 1;
  }
  return 0;
}
