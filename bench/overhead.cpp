// Op overhead and matmul benchmarks: tapegrad against LibTorch, side by side
// in one process, alternating runs, medians and their ratio.
//
//   chain   10,000 small elementwise ops (mul, add, tanh, sub) on 16-element
//           float32 tensors, forward and backward: per-op overhead.
//   mlp     one training step of a two-layer MLP (32x64 -> 128 -> 10, relu,
//           cross-entropy, SGD).
//   matmul  512x512x512 float32 forward + backward against three raw sgemm
//           calls on the same BLAS (the floor any engine can reach).
//
// Usage: bench_overhead [--threads N] [--reps R]
#include <cblas.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include <torch/torch.h>

#include <tapegrad.hpp>

#include "timing.hpp"

namespace {

constexpr int kChainOps = 10000;
constexpr std::size_t kChainWidth = 16;

// ---- chain ----------------------------------------------------------------

struct TgChain {
  tg::Var a = tg::Var::parameter(tg::Tensor::uniform({kChainWidth}, 0.5, 1.0, 1), "a");
  tg::Var b = tg::Var::parameter(tg::Tensor::uniform({kChainWidth}, -0.1, 0.1, 2), "b");
  tg::Var x{tg::Tensor::uniform({kChainWidth}, -1, 1, 3), true};
  tg::Tensor seed = tg::Tensor::ones({kChainWidth});

  tg::Var forward() {
    tg::current_tape().reset();
    tg::Var y = x;
    for (int i = 0; i < kChainOps / 4; ++i) y = tg::tanh(y * a + b) - b;
    return y;
  }
  void step() {
    a.zero_grad();
    b.zero_grad();
    x.zero_grad();
    forward().backward(seed);
  }
};

struct TorchChain {
  torch::Tensor a = (torch::rand({kChainWidth}) * 0.5 + 0.5).requires_grad_();
  torch::Tensor b = (torch::rand({kChainWidth}) * 0.2 - 0.1).requires_grad_();
  torch::Tensor x = (torch::rand({kChainWidth}) * 2 - 1).requires_grad_();
  torch::Tensor seed = torch::ones({kChainWidth});

  torch::Tensor forward() {
    torch::Tensor y = x;
    for (int i = 0; i < kChainOps / 4; ++i) y = torch::tanh(y * a + b) - b;
    return y;
  }
  void step() {
    for (auto* t : {&a, &b, &x}) t->mutable_grad().reset();
    forward().backward(seed);
  }
};

// ---- mlp ------------------------------------------------------------------

constexpr std::size_t kBatch = 32, kIn = 64, kHidden = 128, kClasses = 10;

struct TgMlp {
  tg::Var w1 = tg::Var::parameter(tg::Tensor::uniform({kHidden, kIn}, -0.125, 0.125, 11), "fc1.weight");
  tg::Var b1 = tg::Var::parameter(tg::Tensor::zeros({kHidden}), "fc1.bias");
  tg::Var w2 = tg::Var::parameter(tg::Tensor::uniform({kClasses, kHidden}, -0.09, 0.09, 12), "fc2.weight");
  tg::Var b2 = tg::Var::parameter(tg::Tensor::zeros({kClasses}), "fc2.bias");
  tg::Sgd optimizer{{w1, b1, w2, b2}, tg::SgdOptions{.lr = 0.01}};
  tg::Var x{tg::Tensor::normal({kBatch, kIn}, 0, 1, 13)};
  tg::Indices targets = tg::Indices::from_shape({kBatch});

  TgMlp() {
    for (std::size_t i = 0; i < kBatch; ++i) targets(i) = static_cast<std::int64_t>(i % kClasses);
  }
  void step() {
    tg::current_tape().reset();
    optimizer.zero_grad();
    tg::Var h = tg::relu(tg::linear(x, w1, b1));
    tg::Var loss = tg::cross_entropy(tg::linear(h, w2, b2), targets);
    loss.backward();
    optimizer.step();
  }
};

struct TorchMlp {
  torch::Tensor w1 = (torch::rand({kHidden, kIn}) * 0.25 - 0.125).requires_grad_();
  torch::Tensor b1 = torch::zeros({kHidden}).requires_grad_();
  torch::Tensor w2 = (torch::rand({kClasses, kHidden}) * 0.18 - 0.09).requires_grad_();
  torch::Tensor b2 = torch::zeros({kClasses}).requires_grad_();
  torch::optim::SGD optimizer{{w1, b1, w2, b2}, torch::optim::SGDOptions(0.01)};
  torch::Tensor x = torch::randn({kBatch, kIn});
  torch::Tensor targets = torch::arange(static_cast<long>(kBatch)).remainder(static_cast<long>(kClasses));

  void step() {
    optimizer.zero_grad();
    torch::Tensor h = torch::relu(torch::nn::functional::linear(x, w1, b1));
    torch::Tensor loss = torch::nn::functional::cross_entropy(torch::nn::functional::linear(h, w2, b2), targets);
    loss.backward();
    optimizer.step();
  }
};

// ---- matmul ---------------------------------------------------------------

constexpr int kN = 512;

struct TgMatmul {
  tg::Var a{tg::Tensor::normal({kN, kN}, 0, 1, 21), true};
  tg::Var b{tg::Tensor::normal({kN, kN}, 0, 1, 22), true};
  tg::Tensor seed = tg::Tensor::normal({kN, kN}, 0, 1, 23);

  void step() {
    tg::current_tape().reset();
    a.zero_grad();
    b.zero_grad();
    tg::matmul(a, b).backward(seed);
  }
};

// y = a b, da = dy b^T, db = a^T dy: the three sgemm calls of a matmul's forward and backward.
struct RawSgemm {
  std::vector<float> a, b, dy, y, da, db;
  RawSgemm() : a(kN * kN, 0.5f), b(kN * kN, 0.25f), dy(kN * kN, 1.0f), y(kN * kN), da(kN * kN), db(kN * kN) {}
  void step() {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, kN, kN, kN, 1, a.data(), kN, b.data(), kN, 0, y.data(), kN);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, kN, kN, kN, 1, dy.data(), kN, b.data(), kN, 0, da.data(), kN);
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, kN, kN, kN, 1, a.data(), kN, dy.data(), kN, 0, db.data(), kN);
  }
};

struct TorchMatmul {
  torch::Tensor a = torch::randn({kN, kN}).requires_grad_();
  torch::Tensor b = torch::randn({kN, kN}).requires_grad_();
  torch::Tensor seed = torch::randn({kN, kN});
  void step() {
    a.mutable_grad().reset();
    b.mutable_grad().reset();
    torch::matmul(a, b).backward(seed);
  }
};

}  // namespace

int main(int argc, char** argv) {
  int threads = 1, reps = 31;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string flag = argv[i];
    if (flag == "--threads")
      threads = std::atoi(argv[i + 1]);
    else if (flag == "--reps")
      reps = std::atoi(argv[i + 1]);
    else {
      std::fprintf(stderr, "usage: %s [--threads N] [--reps R]\n", argv[0]);
      return 2;
    }
  }
  openblas_set_num_threads(threads);
  torch::set_num_threads(threads);
  torch::manual_seed(0);
  std::printf("threads %d, %d alternating repetitions, medians (min in parentheses)\n\n", threads, reps);

  TgChain tg_chain;
  TorchChain torch_chain;
  auto fwd = bench::compare([&] { tg_chain.forward(); }, [&] { torch_chain.forward(); }, 3, reps);
  bench::print_row("chain forward (recording)", "libtorch", fwd, kChainOps, "us/op");
  auto no_grad = bench::compare(
      [&] {
        tg::NoGradGuard g;
        tg_chain.forward();
      },
      [&] {
        torch::NoGradGuard g;
        torch_chain.forward();
      },
      3, reps);
  bench::print_row("chain forward (no grad)", "libtorch", no_grad, kChainOps, "us/op");
  auto chain = bench::compare([&] { tg_chain.step(); }, [&] { torch_chain.step(); }, 3, reps);
  bench::print_row("chain forward+backward", "libtorch", chain, kChainOps, "us/op");

  TgMlp tg_mlp;
  TorchMlp torch_mlp;
  auto mlp = bench::compare([&] { tg_mlp.step(); }, [&] { torch_mlp.step(); }, 5, reps * 10);
  bench::print_row("mlp training step", "libtorch", mlp);

  TgMatmul tg_mm;
  RawSgemm raw;
  TorchMatmul torch_mm;
  auto mm = bench::compare([&] { tg_mm.step(); }, [&] { raw.step(); }, 3, reps);
  bench::print_row("matmul 512 fwd+bwd vs 3 sgemm", "raw sgemm", mm, 1000, "ms");
  auto mm_torch = bench::compare([&] { tg_mm.step(); }, [&] { torch_mm.step(); }, 3, reps);
  bench::print_row("matmul 512 fwd+bwd", "libtorch", mm_torch, 1000, "ms");

  std::printf("\nchain: tapegrad's per-op overhead is %.2fx smaller than LibTorch's (goal: at least 5x)\n",
              chain.ratio());
  std::printf("matmul: tapegrad takes %.1f%% longer than three raw sgemm calls (goal: at most 15%%)\n",
              100.0 * (1.0 / mm.ratio() - 1.0));
  return 0;
}
