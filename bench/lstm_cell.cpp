// Does the fused LSTM cell pay? One LSTM step (gates from a GEMM, then the cell)
// forward and backward, with the cell as the fused ops lstm_cell_state and
// lstm_cell_output against the same cell composed from primitive ops (chunk,
// sigmoid, tanh, mul, add), alternating in one run. Results: docs/performance.md.
#include <cstdio>

#include "tapegrad/autodiff/tape.hpp"
#include "tapegrad/ops/activation.hpp"
#include "tapegrad/ops/elementwise.hpp"
#include "tapegrad/ops/linalg.hpp"
#include "tapegrad/ops/reduce.hpp"
#include "tapegrad/ops/rnn.hpp"
#include "tapegrad/ops/shape.hpp"
#include "timing.hpp"

using namespace tg;

namespace {

struct Step {
  Var x_proj, h, c, w_hh;
};

Step make(std::size_t batch, std::size_t hidden) {
  return {Var(Tensor::normal({batch, 4 * hidden}, 0, 1, 1), true), Var(Tensor::normal({batch, hidden}, 0, 1, 2), true),
          Var(Tensor::normal({batch, hidden}, 0, 1, 3), true),
          Var(Tensor::normal({4 * hidden, hidden}, 0, 0.05, 4), true)};
}

void fused(const Step& s) {
  Var gates = s.x_proj + matmul(s.h, s.w_hh, false, true);
  Var c = lstm_cell_state(gates, s.c);
  Var h = lstm_cell_output(gates, c);
  sum(h + c).backward();
  current_tape().reset();
}

void composed(const Step& s) {
  Var gates = s.x_proj + matmul(s.h, s.w_hh, false, true);
  std::vector<Var> g = chunk(gates, 4, 1);
  Var c = sigmoid(g[1]) * s.c + sigmoid(g[0]) * tanh(g[2]);
  Var h = sigmoid(g[3]) * tanh(c);
  sum(h + c).backward();
  current_tape().reset();
}

}  // namespace

int main() {
  for (auto [batch, hidden] : {std::pair<std::size_t, std::size_t>{1, 32}, {32, 128}, {64, 512}}) {
    Step s = make(batch, hidden);
    bench::Comparison c = bench::compare([&] { fused(s); }, [&] { composed(s); }, 20, 201);
    char name[64];
    std::snprintf(name, sizeof name, "lstm step fwd+bwd B=%zu H=%zu", batch, hidden);
    bench::print_row(name, "composed", c);
  }
}
