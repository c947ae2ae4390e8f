#pragma once
/// Weights packed once and reused by every step of a recurrent loop.
///
/// A recurrent step multiplies a batch of 16-128 rows by the same weights at every
/// step: x W^T with W [out, in] in PyTorch's layout. OpenBLAS packs W again on
/// each call, and at these sizes the packing costs as much as the product; with
/// AVX-512 (and AVX2), libxsmm's kernels over W^T cut into panels of 32 columns, packed once,
/// run these products 1.4-2x faster (docs/performance.md, "Packed weights").
///
/// Inside a FrozenWeights scope the linear-type ops (linear, linear_pair, addmm
/// with b transposed) pack each leaf weight they meet at its first use and reuse
/// the packed copy until the outermost scope on this thread ends. The scope's
/// owner promises that no leaf's value changes while it lives: the model code that
/// opens one (a recurrent layer's run over its steps, Seq2Seq::forward, the
/// decoders) calls no user code and no optimizer inside it.
///
/// The backward's dx = dy w of the same ops has the same shape of problem, with w
/// itself as the right operand and k = out up to 2048 (4H): there each leaf weight is
/// packed at its first use in a backward pass, kept until the pass ends, and
/// multiplied 256 rows of a panel at a time, so that the block stays in L1.

#include <cstddef>

#include "tapegrad/autodiff/tape.hpp"
#include "tapegrad/autodiff/var.hpp"

namespace tg {

class FrozenWeights {
 public:
  FrozenWeights();
  ~FrozenWeights();
  FrozenWeights(const FrozenWeights&) = delete;
  FrozenWeights& operator=(const FrozenWeights&) = delete;

  /// Whether a scope is open on this thread.
  static bool active();
  /// Packed weights held by this thread's scope (for tests).
  static std::size_t packed_count();
};

/// y = x w^T, or y += x w^T when accumulating, for float x [m, k] (row-major,
/// contiguous) and a leaf w [n, k], through w's packed copy: only inside a
/// FrozenWeights scope, and only where it pays (AVX2 or AVX-512 and 16-128 rows with
/// in <= 1024, unless OpenBLAS has threads that would split the product:
/// blas_threads_pay; always under SmallGemm::always; never under SmallGemm::never).
/// Returns false when it computed nothing: the caller then calls BLAS.
bool packed_times_weight_t(std::size_t m, std::size_t n, std::size_t k, const float* x, const Var& w, bool accumulate,
                           float* y);

/// In a backward: y = x w, or y += x w, for float x [m, k] and input `iw`, a leaf w
/// [k, n] (dx = dy w for a weight [out, in]), through w's copy packed for this
/// backward pass: where it pays (AVX2 or AVX-512, 16-128 rows, a product that small_sgemm_nn
/// does not take, and no OpenBLAS threads that would split it), or always and never
/// as SmallGemm says. Returns false when it computed nothing: the caller then calls BLAS.
bool packed_times_weight(BackwardContext& c, std::size_t iw, std::size_t m, std::size_t n, std::size_t k,
                         const float* x, bool accumulate, float* y);

}  // namespace tg
