#include "packed_weights.hpp"

#include <algorithm>
#include <climits>
#include <memory>
#include <vector>

#include <libxsmm.h>

#include "../autodiff/pool.hpp"
#include "blas.hpp"
#include "fast_math.hpp"

namespace tg {
namespace {

// Columns per panel: 32 ran best on the shapes measured (docs/performance.md).
constexpr std::size_t kPanel = 32;
// Rows of a panel per kernel call in the backward's x w: 256 x 32 floats (32 KB) stay in L1
// while the kernel runs over x's rows (docs/performance.md, "Packed weights in the backward").
constexpr std::size_t kBackwardBlock = 256;

// A product's right operand B [k, n] cut into panels of kPanel columns: panel p holds
// columns [p0, p0 + w) as a contiguous [k, w] block at offset p0 * k. B is w^T for the
// forward's x w^T (w [n, k]), w itself for the backward's dy w (w [k, n]).
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

bool packing_pays(std::size_t m, std::size_t n, std::size_t k) {
  const SmallGemm policy = small_gemm();
  if (policy == SmallGemm::never) return false;
  if (policy == SmallGemm::always) return true;
  // Below 16 rows OpenBLAS is as fast, and so it is for large products when it has threads
  // to split them over (measured on Emerald Rapids, docs/performance.md).
  return fast::widest_isa() == fast::Isa::avx512 && m >= 16 && m <= 128 && !blas_threads_pay(m, n, k);
}

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
  for (std::size_t p0 = 0; p0 < n; p0 += kPanel) {
    const std::size_t width = std::min(kPanel, n - p0);
    float* panel = p->panels.data() + p0 * k;
    if (transposed) {  // B[l][j] = w[j][l]
      for (std::size_t j = 0; j < width; ++j) {
        const float* row = source + (p0 + j) * k;
        for (std::size_t l = 0; l < k; ++l) panel[l * width + j] = row[l];
      }
    } else {  // B[l][j] = w[l][j]
      for (std::size_t l = 0; l < k; ++l) {
        std::copy(source + l * n + p0, source + l * n + p0 + width, panel + l * width);
      }
    }
  }
  list.push_back(std::move(p));
  return *list.back();
}

// y [m, n] = x [m, k] B, or y += x B, through B's panels, block rows of each panel at a time.
// libxsmm is column-major: row-major y [m, width] (leading dim n) += x [m, kb] panel [kb, width]
// is, read column-major, y' [width, m] += panel' [width, kb] x' [kb, m] with x's leading dim k.
// Returns false, having computed nothing, when libxsmm has no kernel for a shape.
// `pack` is a template parameter, not a std::function: its captures would not fit the
// function's inline storage, and this runs for every product of a recurrent step.
template <class Pack>
bool multiply(std::size_t m, std::size_t n, std::size_t k, std::size_t block, const float* x, bool accumulate,
              float* y, const Pack& pack) {
  const auto rows = static_cast<libxsmm_blasint>(m), ldx = static_cast<libxsmm_blasint>(k),
             ldy = static_cast<libxsmm_blasint>(n);
  const float alpha = 1.0f, zero = 0.0f, one = 1.0f;
  // Kernels by (full panel or tail) x (full block or tail) x (first block or not).
  libxsmm_smmfunction kernels[2][2][2] = {};
  const std::size_t widths[2] = {kPanel, n % kPanel}, blocks[2] = {block, k % block};
  for (int w = 0; w < 2; ++w) {
    for (int b = 0; b < 2; ++b) {
      const bool used = (w == 0 ? n >= kPanel : widths[1] > 0) && (b == 0 ? k >= block : blocks[1] > 0);
      if (!used) continue;
      const auto cols = static_cast<libxsmm_blasint>(widths[w]), inner = static_cast<libxsmm_blasint>(blocks[b]);
      for (int later = 0; later < (k > block ? 2 : 1); ++later) {  // later blocks only when there are any
        const float* beta = later || accumulate ? &one : &zero;
        kernels[w][b][later] =
            libxsmm_smmdispatch(cols, rows, inner, &cols, &ldx, &ldy, &alpha, beta, nullptr, nullptr);
        if (kernels[w][b][later] == nullptr) return false;
      }
    }
  }
  const Packed& p = pack();  // only now: a product that returns false above packs nothing
  for (std::size_t p0 = 0; p0 < n; p0 += kPanel) {
    const int w = p0 + kPanel <= n ? 0 : 1;
    const std::size_t width = widths[w];
    const float* panel = p.panels.data() + p0 * k;
    for (std::size_t l0 = 0; l0 < k; l0 += block) {
      const int b = l0 + block <= k ? 0 : 1;
      kernels[w][b][l0 > 0 ? 1 : 0](panel + l0 * width, x + l0, y + p0);
    }
  }
  return true;
}

}  // namespace

FrozenWeights::FrozenWeights() { ++scope.depth; }

FrozenWeights::~FrozenWeights() {
  if (--scope.depth == 0) scope.packed.clear();
}

bool FrozenWeights::active() { return scope.depth > 0; }

std::size_t FrozenWeights::packed_count() { return scope.packed.size(); }

bool packed_times_weight_t(std::size_t m, std::size_t n, std::size_t k, const float* x, const Var& w,
                           bool accumulate, float* y) {
  if (scope.depth == 0 || !w.is_leaf() || m == 0 || n == 0 || k == 0) return false;
  if (std::max({m, n, k}) > static_cast<std::size_t>(INT_MAX) || !packing_pays(m, n, k)) return false;
  // With in > 1024 a panel no longer sits in L1 and x's rows leave L2.
  if (small_gemm() == SmallGemm::automatic && k > 1024) return false;
  return multiply(m, n, k, k, x, accumulate, y, [&]() -> const Packed& {
    return packed_for(scope.packed, w, n, k, true);
  });
}

bool packed_times_weight(BackwardContext& c, std::size_t iw, std::size_t m, std::size_t n, std::size_t k,
                         const float* x, bool accumulate, float* y) {
  const Var& w = c.input_var(iw);
  if (!w.is_leaf() || w.dtype() != DType::f32 || m == 0 || n == 0 || k == 0) return false;
  if (std::max({m, n, k}) > static_cast<std::size_t>(INT_MAX) || !packing_pays(m, n, k)) return false;
  // What small_sgemm_nn takes, it runs as fast unpacked.
  if (small_gemm() == SmallGemm::automatic && k <= 512 && n <= 512) return false;
  return multiply(m, n, k, kBackwardBlock, x, accumulate, y, [&]() -> const Packed& {
    return packed_for(c.at_pass_end<PackedForPass>().packed, w, n, k, false);
  });
}

}  // namespace tg
