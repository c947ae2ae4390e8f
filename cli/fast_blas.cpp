#include "tapegrad/cli/fast_blas.hpp"

#include <unistd.h>

#include <cstdlib>

#include "tapegrad/kernels/blas.hpp"

namespace tg {

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

std::string blas_core_for(fast::Isa isa) {
  switch (isa) {
    case fast::Isa::avx512:
      return "SKYLAKEX";
    case fast::Isa::avx2:
      return "HASWELL";
    case fast::Isa::baseline:
      break;
  }
  return "PRESCOTT";
}

std::string blas_core_to_restart_with() {
  if (std::getenv("OPENBLAS_CORETYPE") != nullptr) return "";  // chosen by the user, or by a restart
  const fast::Isa level = fast::requested_isa();
  if (level < fast::detected_isa()) return blas_core_for(level);
  return blas_better_core();
}

std::string restart_with_better_blas(char** argv) {
  const std::string core = blas_core_to_restart_with();
  if (core.empty()) return "";
  setenv("OPENBLAS_CORETYPE", core.c_str(), 1);
  execv("/proc/self/exe", argv);
  return core;  // execv failed: go on with the slow kernels
}

}  // namespace tg
