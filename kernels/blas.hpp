#pragma once
/// The BLAS under matmul (OpenBLAS): which kernels it chose for this CPU.
///
/// OpenBLAS picks its kernels once, when it is loaded, from the CPU's model
/// number. A release older than the CPU (Debian 12's 0.3.21 on Sapphire or
/// Emerald Rapids, say) does not know the model and falls back to its generic
/// SSE3 kernels ("Prescott"): sgemm then runs 4-5x below what the CPU can do.
/// The environment variable OPENBLAS_CORETYPE overrides the choice, but only
/// before the library loads; the `tapegrad` command line therefore sets it and
/// starts itself again (cli/fast_blas.hpp). See docs/performance.md.

#include <cstddef>
#include <string>

namespace tg {

/// Threads OpenBLAS uses for one matrix product. Small products (an RNN step of a
/// batch of 64-128 rows) run faster on one thread than split over two, whose
/// hand-off costs more than it saves; large ones scale.
int blas_threads();
/// Sets them (>= 1); throws Error otherwise.
void set_blas_threads(int threads);

/// OpenBLAS's name for the kernels in use: "Haswell", "SkylakeX", "Cooperlake", "Prescott", ...
std::string blas_core_name();

/// Small float products go to libxsmm's just-in-time kernels rather than OpenBLAS.
/// OpenBLAS packs both operands on every call, which a recurrent step's products
/// (16 rows or more times a weight of at most [512, 512]) cannot amortise: with
/// AVX-512, libxsmm runs [32, 512] x [512, 128] at about 175 GFLOP/s against
/// OpenBLAS's 90-115; with AVX2 the small step gains 6-7% (docs/performance.md, "Every x86
/// level"). For larger weights, and for one row, OpenBLAS is faster
/// (docs/performance.md, "Small products through libxsmm").
///   automatic: libxsmm for those shapes, on CPUs with AVX2 or AVX-512 (the default);
///   always:    libxsmm for every float product it takes (tests compare the two paths);
///   never:     OpenBLAS only.
enum class SmallGemm { automatic, always, never };
void set_small_gemm(SmallGemm policy);
SmallGemm small_gemm();

/// Whether a float product [m, k] x [k, n] is large enough for OpenBLAS's threads, when it
/// has more than one, to beat one thread of libxsmm: then the libxsmm paths leave it to
/// OpenBLAS (above 4M multiply-adds; a medium step's `h W_hhᵀ` or a decoding step's output).
bool blas_threads_pay(std::size_t m, std::size_t n, std::size_t k);

/// Makes libxsmm generate kernels for fast::widest_isa() when TAPEGRAD_ISA lowered it
/// below the CPU's; once, before the first kernel is made (its callers call it).
void match_libxsmm_to_isa();

/// z = x y, or z += x y when accumulating, for row-major contiguous floats x [m, k],
/// y [k, n], z [m, n], by libxsmm when the policy above chooses it for this shape
/// and libxsmm has a kernel for it. Returns false when it computed nothing: the
/// caller then calls BLAS.
bool small_sgemm_nn(std::size_t m, std::size_t n, std::size_t k, const float* x, const float* y, bool accumulate,
                    float* z);

/// z = op(x) op(y), or z += op(x) op(y) when accumulating, for T float or double:
/// op(x) is [m, k] and op(y) is [k, n], all row-major and contiguous, so the leading
/// dims follow from the transpose flags. Products with a vector in them (m, n or k = 1)
/// go to OpenBLAS's gemv or ger, whose sgemm would pack both operands; other float
/// products without transposes go to small_sgemm_nn first; the rest to OpenBLAS's gemm.
/// k = 0 writes zeros (or adds nothing).
template <class T>
void gemm(bool trans_x, bool trans_y, std::size_t m, std::size_t n, std::size_t k, const T* x, const T* y,
          bool accumulate, T* z);

/// x . y for n doubles by BLAS, whose kernels vectorise the sum, which plain C++ may not
/// reorder. (Floats take fast::additive_score_row, which sums in lanes itself.)
double dot(const double* x, const double* y, std::size_t n);

/// Makes the calling thread's float arithmetic flush denormal results to zero
/// and read denormal inputs as zero (x86's FTZ and DAZ; nothing elsewhere).
/// Training drives attention weights and their gradients into the denormal
/// range (below 1.2e-38), where each multiply takes a slow microcode path that
/// doubled the time of a G2P step (docs/performance.md, "Denormals"). The
/// setting is per thread (each worker's too).
void flush_denormals();

}  // namespace tg
