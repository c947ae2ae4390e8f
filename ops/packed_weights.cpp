#include "tapegrad/ops/packed_weights.hpp"

#include <algorithm>
#include <climits>
#include <memory>
#include <vector>

#include "tapegrad/autodiff/pool.hpp"
#include "tapegrad/kernels/blas.hpp"
#include "tapegrad/kernels/packed_panels.hpp"

namespace tg {
namespace {

// Rows of a panel per kernel call in the backward's x w: 256 x 32 floats (32 KB) stay in L1
// while the kernel runs over x's rows (docs/performance.md, "Packed weights in the backward").
constexpr std::size_t kBackwardBlock = 256;

// A leaf weight's panels (kernels/packed_panels.hpp): B is w^T for the forward's x w^T
// (w [n, k]), w itself for the backward's dy w (w [k, n]).
struct Packed {
  std::shared_ptr<Node> weight;  // keeps the weight, and so its storage, alive while packed
  const float* source = nullptr;
  std::size_t n = 0, k = 0;
  bool transposed = false;
  std::vector<float, PoolAllocator<float>> panels;  // from the pool, as tensors: reused step after step
};

using PackedList = std::vector<std::unique_ptr<Packed>>;

struct Scope {
  int depth = 0;
  PackedList packed;
};

thread_local Scope scope;

// The weights packed for one backward pass: dropped by the tape when the pass ends,
// since the optimizer may change them before the next.
struct PackedForPass final : PassEnd {
  void finish() override {}
  PackedList packed;
};

const Packed& packed_for(PackedList& list, const Var& w, std::size_t n, std::size_t k, bool transposed) {
  const float* source = w.value().array<float>().data();
  for (const auto& p : list) {
    if (p->weight.get() == w.node_ptr().get() && p->source == source && p->n == n && p->k == k &&
        p->transposed == transposed) {
      return *p;
    }
  }
  auto p = std::make_unique<Packed>();
  p->weight = w.node_ptr();
  p->source = source;
  p->n = n;
  p->k = k;
  p->transposed = transposed;
  p->panels.resize(n * k);
  pack_panels(source, n, k, transposed, p->panels.data());
  list.push_back(std::move(p));
  return *list.back();
}

// y [m, n] = x [m, k] B, or y += x B, through B's panels, `block` rows of each panel at a
// time. Returns false, having packed and computed nothing, when libxsmm has no kernel for a
// shape. `pack` is a template parameter, not a std::function: its captures would not fit the
// function's inline storage, and this runs for every product of a recurrent step.
template <class Pack>
bool multiply(std::size_t m, std::size_t n, std::size_t k, std::size_t block, const float* x, bool accumulate, float* y,
              const Pack& pack) {
  const PanelProduct product(m, n, k, block, accumulate);
  if (!product.ready()) return false;
  product.run(pack().panels.data(), x, y);
  return true;
}

}  // namespace

FrozenWeights::FrozenWeights() { ++scope.depth; }

FrozenWeights::~FrozenWeights() {
  if (--scope.depth == 0) scope.packed.clear();
}

bool FrozenWeights::active() { return scope.depth > 0; }

std::size_t FrozenWeights::packed_count() { return scope.packed.size(); }

bool packed_times_weight_t(std::size_t m, std::size_t n, std::size_t k, const float* x, const Var& w, bool accumulate,
                           float* y) {
  if (scope.depth == 0 || !w.is_leaf() || m == 0 || n == 0 || k == 0) return false;
  if (std::max({m, n, k}) > static_cast<std::size_t>(INT_MAX) || !packing_pays(m, n, k)) return false;
  // With in > 1024 a panel no longer sits in L1 and x's rows leave L2.
  if (small_gemm() == SmallGemm::automatic && k > 1024) return false;
  return multiply(m, n, k, k, x, accumulate, y,
                  [&]() -> const Packed& { return packed_for(scope.packed, w, n, k, true); });
}

bool packed_times_weight(BackwardContext& c, std::size_t iw, std::size_t m, std::size_t n, std::size_t k,
                         const float* x, bool accumulate, float* y) {
  const Var& w = c.input_var(iw);
  if (!w.is_leaf() || w.dtype() != DType::f32 || m == 0 || n == 0 || k == 0) return false;
  if (std::max({m, n, k}) > static_cast<std::size_t>(INT_MAX) || !packing_pays(m, n, k)) return false;
  // What small_sgemm_nn takes, it runs as fast unpacked.
  if (small_gemm() == SmallGemm::automatic && k <= 512 && n <= 512) return false;
  return multiply(m, n, k, kBackwardBlock, x, accumulate, y,
                  [&]() -> const Packed& { return packed_for(c.at_pass_end<PackedForPass>().packed, w, n, k, false); });
}

}  // namespace tg
