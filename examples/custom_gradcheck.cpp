// gradcheck on a user's own function: the example from docs/gradcheck.md.
#include <cstdio>

#include <tapegrad.hpp>

namespace {

// A gated tanh unit: tanh(x) * sigmoid(gate), with the gate broadcast over rows.
tg::Var gated(const tg::Var& x, const tg::Var& gate) { return tg::tanh(x) * tg::sigmoid(gate); }

}  // namespace

int main() {
  tg::GradcheckReport report =
      tg::gradcheck([](const std::vector<tg::Var>& in) { return gated(in[0], in[1]); },
                    {tg::Tensor::normal({3, 4}, 0, 1, /*seed=*/1), tg::Tensor::normal({4}, 0, 1, /*seed=*/2)});
  std::puts(report.message().c_str());
  return report ? 0 : 1;
}
