#include "blas.hpp"

#if defined(__SSE__) || defined(__x86_64__)
#include <xmmintrin.h>
#endif

#include <unistd.h>

#include <cstdlib>

#include <cblas.h>
#include <fmt/format.h>

#include "../autodiff/error.hpp"

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

std::string blas_better_core() {
  // The generic fallbacks of OpenBLAS's dynamic dispatch for x86-64.
  const std::string core = blas_core_name();
  if (core != "Prescott" && core != "Core2" && core != "Nehalem" && core != "Atom") return "";
#if defined(__x86_64__) && defined(__GNUC__)
  __builtin_cpu_init();
  // SkylakeX's sgemm is Cooperlake's too; 0.3.21 cannot force "Cooperlake" by name.
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
      __builtin_cpu_supports("avx512dq")) {
    return "SKYLAKEX";
  }
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return "HASWELL";
#endif
  return "";
}

std::string restart_with_better_blas(char** argv) {
  if (std::getenv("OPENBLAS_CORETYPE") != nullptr) return "";  // chosen by the user, or by a restart
  const std::string core = blas_better_core();
  if (core.empty()) return "";
  setenv("OPENBLAS_CORETYPE", core.c_str(), 1);
  execv("/proc/self/exe", argv);
  return core;  // execv failed: go on with the slow kernels
}

void flush_denormals() {
#if defined(__SSE__) || defined(__x86_64__)
  _mm_setcsr(_mm_getcsr() | 0x8040);  // FTZ (bit 15) and DAZ (bit 6)
#endif
}

}  // namespace tg
