#include "tapegrad/kernels/packed_panels.hpp"

#include <algorithm>

#include <libxsmm.h>

#include "tapegrad/kernels/blas.hpp"
#include "tapegrad/kernels/fast_math.hpp"

namespace tg {

bool packing_pays(std::size_t m, std::size_t n, std::size_t k) {
  const SmallGemm policy = small_gemm();
  if (policy == SmallGemm::never) return false;
  if (policy == SmallGemm::always) return true;
  // Below 16 rows OpenBLAS is as fast, and so it is for large products when it has threads
  // to split them over (measured on Emerald Rapids, docs/performance.md).
  return fast::widest_isa() >= fast::Isa::avx2 && m >= 16 && m <= 128 && !blas_threads_pay(m, n, k);
}

void pack_panels(const float* source, std::size_t n, std::size_t k, bool transposed, float* panels) {
  for (std::size_t p0 = 0; p0 < n; p0 += kPanelColumns) {
    const std::size_t width = std::min(kPanelColumns, n - p0);
    float* panel = panels + p0 * k;
    if (transposed) {  // B[l][j] = source[j][l]
      for (std::size_t j = 0; j < width; ++j) {
        const float* row = source + (p0 + j) * k;
        for (std::size_t l = 0; l < k; ++l) panel[l * width + j] = row[l];
      }
    } else {  // B[l][j] = source[l][j]
      for (std::size_t l = 0; l < k; ++l) {
        std::copy(source + l * n + p0, source + l * n + p0 + width, panel + l * width);
      }
    }
  }
}

// libxsmm is column-major: row-major y [m, width] (leading dim n) += x [m, kb] panel [kb, width]
// is, read column-major, y' [width, m] += panel' [width, kb] x' [kb, m] with x's leading dim k.
PanelProduct::PanelProduct(std::size_t m, std::size_t n, std::size_t k, std::size_t block, bool accumulate)
    : n_(n), k_(k), block_(block), widths_{kPanelColumns, n % kPanelColumns}, blocks_{block, k % block} {
  const auto rows = static_cast<libxsmm_blasint>(m), ldx = static_cast<libxsmm_blasint>(k),
             ldy = static_cast<libxsmm_blasint>(n);
  const float alpha = 1.0f, zero = 0.0f, one = 1.0f;
  match_libxsmm_to_isa();
  for (int w = 0; w < 2; ++w) {
    for (int b = 0; b < 2; ++b) {
      const bool used = (w == 0 ? n >= kPanelColumns : widths_[1] > 0) && (b == 0 ? k >= block : blocks_[1] > 0);
      if (!used) continue;
      const auto cols = static_cast<libxsmm_blasint>(widths_[w]), inner = static_cast<libxsmm_blasint>(blocks_[b]);
      for (int later = 0; later < (k > block ? 2 : 1); ++later) {  // later blocks only when there are any
        const float* beta = later || accumulate ? &one : &zero;
        kernels_[w][b][later] =
            libxsmm_smmdispatch(cols, rows, inner, &cols, &ldx, &ldy, &alpha, beta, nullptr, nullptr);
        if (kernels_[w][b][later] == nullptr) ready_ = false;
      }
    }
  }
}

void PanelProduct::run(const float* panels, const float* x, float* y) const {
  for (std::size_t p0 = 0; p0 < n_; p0 += kPanelColumns) {
    const int w = p0 + kPanelColumns <= n_ ? 0 : 1;
    const std::size_t width = widths_[w];
    const float* panel = panels + p0 * k_;
    for (std::size_t l0 = 0; l0 < k_; l0 += block_) {
      const int b = l0 + block_ <= k_ ? 0 : 1;
      kernels_[w][b][l0 > 0 ? 1 : 0](panel + l0 * width, x + l0, y + p0);
    }
  }
}

}  // namespace tg
