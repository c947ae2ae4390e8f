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

// W [n, k] as W^T [k, n] cut into panels of kPanel columns: panel p holds columns
// [p0, p0 + w) as a contiguous [k, w] block at offset p0 * k.
struct Packed {
  std::shared_ptr<Node> weight;  // keeps the weight, and so its storage, alive for the scope
  const float* source = nullptr;
  std::size_t n = 0, k = 0;
  std::vector<float, PoolAllocator<float>> panels;  // from the pool, as tensors: reused step after step
};

struct Scope {
  int depth = 0;
  std::vector<std::unique_ptr<Packed>> packed;
};

thread_local Scope scope;

bool packing_pays(std::size_t m, std::size_t n, std::size_t k) {
  const SmallGemm policy = small_gemm();
  if (policy == SmallGemm::never) return false;
  if (policy == SmallGemm::always) return true;
  // With in > 1024 a panel no longer sits in L1 and x's rows leave L2; below 16 rows
  // OpenBLAS is as fast, and so it is for large products when it has threads to split them
  // over (measured on Emerald Rapids, docs/performance.md).
  return fast::widest_isa() == fast::Isa::avx512 && m >= 16 && m <= 128 && k <= 1024 && !blas_threads_pay(m, n, k);
}

const Packed& packed_for(const Var& w, const float* source, std::size_t n, std::size_t k) {
  for (const auto& p : scope.packed) {
    if (p->weight.get() == w.node_ptr().get() && p->source == source && p->n == n && p->k == k) return *p;
  }
  auto p = std::make_unique<Packed>();
  p->weight = w.node_ptr();
  p->source = source;
  p->n = n;
  p->k = k;
  p->panels.resize(n * k);
  for (std::size_t p0 = 0; p0 < n; p0 += kPanel) {
    const std::size_t width = std::min(kPanel, n - p0);
    float* panel = p->panels.data() + p0 * k;
    for (std::size_t j = 0; j < width; ++j) {
      const float* row = source + (p0 + j) * k;
      for (std::size_t l = 0; l < k; ++l) panel[l * width + j] = row[l];
    }
  }
  scope.packed.push_back(std::move(p));
  return *scope.packed.back();
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
  // libxsmm is column-major: row-major y [m, width] (leading dim n) = x [m, k] panel [k, width]
  // is, read column-major, y' [width, m] = panel' [width, k] x' [k, m].
  const auto rows = static_cast<libxsmm_blasint>(m), inner = static_cast<libxsmm_blasint>(k),
             ldy = static_cast<libxsmm_blasint>(n);
  const float alpha = 1.0f, beta = accumulate ? 1.0f : 0.0f;
  auto kernel_for = [&](std::size_t width) {
    const auto cols = static_cast<libxsmm_blasint>(width);
    return libxsmm_smmdispatch(cols, rows, inner, &cols, &inner, &ldy, &alpha, &beta, nullptr, nullptr);
  };
  const libxsmm_smmfunction full = n >= kPanel ? kernel_for(kPanel) : nullptr;
  const libxsmm_smmfunction tail = n % kPanel ? kernel_for(n % kPanel) : nullptr;
  if ((n >= kPanel && full == nullptr) || (n % kPanel && tail == nullptr)) return false;
  const Packed& packed = packed_for(w, w.value().array<float>().data(), n, k);
  for (std::size_t p0 = 0; p0 < n; p0 += kPanel) {
    const libxsmm_smmfunction kernel = p0 + kPanel <= n ? full : tail;
    kernel(packed.panels.data() + p0 * k, x, y + p0);
  }
  return true;
}

}  // namespace tg
