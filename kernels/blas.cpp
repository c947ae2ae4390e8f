#include "tapegrad/kernels/blas.hpp"

#if defined(__SSE__) || defined(__x86_64__)
#include <xmmintrin.h>
#endif

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <climits>
#include <cstdlib>
#include <type_traits>

#include <cblas.h>
#include <fmt/format.h>
#include <libxsmm.h>

#include "tapegrad/base/error.hpp"
#include "tapegrad/kernels/fast_math.hpp"

namespace tg {

int blas_threads() { return openblas_get_num_threads(); }

void set_blas_threads(int threads) {
  if (threads < 1) throw Error(fmt::format("set_blas_threads: {} threads; at least 1", threads));
  openblas_set_num_threads(threads);
}

std::string blas_core_name() {
  const char* name = openblas_get_corename();
  return name ? name : "";
}

namespace {
std::atomic<SmallGemm> small_gemm_policy{SmallGemm::automatic};

// Where libxsmm beat OpenBLAS 0.3.21 with AVX-512 and AVX2 (docs/performance.md): from 16 rows (one
// row is a gemv, which OpenBLAS does better), with y at most [512, 512], 1 MB, so that it
// stays in L2, since libxsmm neither blocks nor packs it. Rows may be many: x streams through.
bool libxsmm_pays(std::size_t m, std::size_t n, std::size_t k) {
  return fast::widest_isa() >= fast::Isa::avx2 && m >= 16 && k <= 512 && n <= 512 && !blas_threads_pay(m, n, k);
}
}  // namespace

bool blas_threads_pay(std::size_t m, std::size_t n, std::size_t k) {
  return blas_threads() > 1 && m * n * k > (std::size_t{1} << 22);
}

void set_small_gemm(SmallGemm policy) { small_gemm_policy.store(policy, std::memory_order_relaxed); }

SmallGemm small_gemm() { return small_gemm_policy.load(std::memory_order_relaxed); }

void match_libxsmm_to_isa() {
  static const bool matched = [] {
    // LIBXSMM_X86_GENERIC: no generated kernels, every product to OpenBLAS.
    if (fast::widest_isa() < fast::detected_isa()) {
      libxsmm_set_target_archid(fast::widest_isa() == fast::Isa::avx2 ? LIBXSMM_X86_AVX2 : LIBXSMM_X86_GENERIC);
    }
    return true;
  }();
  (void)matched;
}

bool small_sgemm_nn(std::size_t m, std::size_t n, std::size_t k, const float* x, const float* y, bool accumulate,
                    float* z) {
  const SmallGemm policy = small_gemm();
  if (policy == SmallGemm::never || m == 0 || n == 0 || k == 0) return false;
  if (policy == SmallGemm::automatic && !libxsmm_pays(m, n, k)) return false;
  if (m > INT_MAX || n > INT_MAX || k > INT_MAX) return false;
  match_libxsmm_to_isa();
  // libxsmm is column-major: row-major z [m, n] = x [m, k] y [k, n] is, read column-major,
  // z' [n, m] = y' [n, k] x' [k, m] with the same memory.
  const libxsmm_blasint rows = static_cast<libxsmm_blasint>(n), cols = static_cast<libxsmm_blasint>(m),
                        inner = static_cast<libxsmm_blasint>(k);
  const float alpha = 1.0f, beta = accumulate ? 1.0f : 0.0f;
  // One kernel per shape, generated at its first use and kept in libxsmm's registry.
  const libxsmm_smmfunction kernel =
      libxsmm_smmdispatch(rows, cols, inner, &rows, &inner, &rows, &alpha, &beta, nullptr, nullptr);
  if (kernel == nullptr) return false;
  kernel(y, x, z);
  return true;
}

namespace {

// Products with a vector in them, by the level-2 BLAS: OpenBLAS 0.3.21's sgemm packs both
// operands even for one row, which costs more than the multiply at a batch of 1 (the tiny
// step's every recurrent product; docs/performance.md, "Data parallelism over threads, and
// products with a vector by gemv").
void gemv(CBLAS_TRANSPOSE t, blasint rows, blasint cols, const float* a, const float* v, float beta, float* z) {
  cblas_sgemv(CblasRowMajor, t, rows, cols, 1.0f, a, cols, v, 1, beta, z, 1);
}
void gemv(CBLAS_TRANSPOSE t, blasint rows, blasint cols, const double* a, const double* v, double beta, double* z) {
  cblas_dgemv(CblasRowMajor, t, rows, cols, 1.0, a, cols, v, 1, beta, z, 1);
}
void ger(blasint m, blasint n, const float* x, const float* y, float* z) {
  cblas_sger(CblasRowMajor, m, n, 1.0f, x, 1, y, 1, z, n);
}
void ger(blasint m, blasint n, const double* x, const double* y, double* z) {
  cblas_dger(CblasRowMajor, m, n, 1.0, x, 1, y, 1, z, n);
}

// z (+)= op(x) op(y) when one of m, n, k is 1: then op(x) or op(y) is a contiguous vector
// whatever its transpose flag. Returns false for other shapes.
template <class T>
bool vector_product(bool trans_x, bool trans_y, std::size_t m, std::size_t n, std::size_t k, const T* x, const T* y,
                    bool accumulate, T* z) {
  const auto bm = static_cast<blasint>(m), bn = static_cast<blasint>(n), bk = static_cast<blasint>(k);
  const T beta = accumulate ? T(1) : T(0);
  if (m == 1) {  // z = op(y)ᵀ x: y is [k, n], or [n, k] when transposed
    if (trans_y)
      gemv(CblasNoTrans, bn, bk, y, x, beta, z);
    else
      gemv(CblasTrans, bk, bn, y, x, beta, z);
    return true;
  }
  if (n == 1) {  // z = op(x) y: x is [m, k], or [k, m] when transposed
    if (trans_x)
      gemv(CblasTrans, bk, bm, x, y, beta, z);
    else
      gemv(CblasNoTrans, bm, bk, x, y, beta, z);
    return true;
  }
  if (k == 1) {  // the outer product of two vectors
    if (!accumulate) std::fill(z, z + m * n, T(0));
    ger(bm, bn, x, y, z);
    return true;
  }
  return false;
}

}  // namespace

// Zero sizes never reach BLAS, which wants leading dims >= 1.
template <class T>
void gemm(bool trans_x, bool trans_y, std::size_t m, std::size_t n, std::size_t k, const T* x, const T* y,
          bool accumulate, T* z) {
  if (m == 0 || n == 0) return;
  if (k == 0) {
    if (!accumulate) std::fill(z, z + m * n, T(0));
    return;
  }
  if (vector_product(trans_x, trans_y, m, n, k, x, y, accumulate, z)) return;
  const CBLAS_TRANSPOSE tx = trans_x ? CblasTrans : CblasNoTrans;
  const CBLAS_TRANSPOSE ty = trans_y ? CblasTrans : CblasNoTrans;
  const auto bm = static_cast<blasint>(m), bn = static_cast<blasint>(n), bk = static_cast<blasint>(k);
  const blasint ldx = trans_x ? bm : bk, ldy = trans_y ? bk : bn;
  const T beta = accumulate ? T(1) : T(0);
  if constexpr (std::is_same_v<T, float>) {
    if (!trans_x && !trans_y && small_sgemm_nn(m, n, k, x, y, accumulate, z)) return;
    cblas_sgemm(CblasRowMajor, tx, ty, bm, bn, bk, 1.0f, x, ldx, y, ldy, beta, z, bn);
  } else {
    cblas_dgemm(CblasRowMajor, tx, ty, bm, bn, bk, 1.0, x, ldx, y, ldy, beta, z, bn);
  }
}

template void gemm<float>(bool, bool, std::size_t, std::size_t, std::size_t, const float*, const float*, bool, float*);
template void gemm<double>(bool, bool, std::size_t, std::size_t, std::size_t, const double*, const double*, bool,
                           double*);

double dot(const double* x, const double* y, std::size_t n) { return cblas_ddot(static_cast<blasint>(n), x, 1, y, 1); }

void flush_denormals() {
#if defined(__SSE__) || defined(__x86_64__)
  _mm_setcsr(_mm_getcsr() | 0x8040);  // FTZ (bit 15) and DAZ (bit 6)
#endif
}

}  // namespace tg
