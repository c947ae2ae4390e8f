#pragma once
/// A matrix product's right operand packed once into panels, and the products
/// through them by libxsmm: the raw half of packed weights (ops/packed_weights.hpp
/// decides which weights to pack and keeps them for a recurrent loop or a backward pass).
///
/// B [k, n] is cut into panels of kPanelColumns columns: panel p holds columns
/// [p0, p0 + width) as a contiguous [k, width] block at offset p0 * k. At these
/// sizes packing costs as much as the product, so a weight multiplied at every step
/// of a loop is packed once (docs/performance.md, "Packed weights").

#include <cstddef>

namespace tg {

/// Columns per panel: 32 ran best on the shapes measured (docs/performance.md).
inline constexpr std::size_t kPanelColumns = 32;

/// Whether a float product [m, k] x [k, n] through packed panels beats OpenBLAS:
/// with AVX2 or AVX-512 and 16-128 rows, unless OpenBLAS has threads that would split it
/// (blas_threads_pay); always under SmallGemm::always; never under SmallGemm::never.
bool packing_pays(std::size_t m, std::size_t n, std::size_t k);

/// Packs B into `panels` (n * k floats): B = source^T for source [n, k] when
/// `transposed` (the forward's x w^T), B = source [k, n] otherwise (the backward's dy w).
void pack_panels(const float* source, std::size_t n, std::size_t k, bool transposed, float* panels);

/// libxsmm's kernels for y [m, n] = x [m, k] B (or y += x B when accumulating) through
/// B's panels, `block` rows of a panel at a time. ready() is false when libxsmm has no
/// kernel for a shape: then nothing need be packed, and the caller uses BLAS.
class PanelProduct {
 public:
  PanelProduct(std::size_t m, std::size_t n, std::size_t k, std::size_t block, bool accumulate);
  bool ready() const { return ready_; }
  /// y = x B (or y += x B) for row-major x [m, k] and y [m, n], B packed by pack_panels.
  void run(const float* panels, const float* x, float* y) const;

 private:
  using Kernel = void (*)(const float*, const float*, float*, ...);  // libxsmm_smmfunction
  std::size_t n_, k_, block_;
  std::size_t widths_[2], blocks_[2];
  // By (full panel or tail) x (full block or tail) x (first block or a later one).
  Kernel kernels_[2][2][2] = {};
  bool ready_ = true;
};

}  // namespace tg
