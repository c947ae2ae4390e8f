#pragma once
/// Process control for the programs (the command line, the benchmarks, the
/// memory test), not for the library: OpenBLAS reads OPENBLAS_CORETYPE only when
/// it loads, so choosing faster kernels means starting the process again.

#include <string>

namespace tg {

/// The OPENBLAS_CORETYPE this CPU should use when OpenBLAS fell back to generic
/// kernels although the CPU has AVX2 or AVX-512 ("SKYLAKEX" or "HASWELL");
/// empty when the kernels in use are fine.
std::string blas_better_core();

/// When blas_better_core() names a core and OPENBLAS_CORETYPE is not set, sets it
/// and replaces the process with a fresh start of the same program (execv of
/// /proc/self/exe with argv), so that OpenBLAS loads its fast kernels. Returns
/// only when it did nothing (or the restart failed): then it returns the core
/// that would have been better ("" if none), for a note to the user.
std::string restart_with_better_blas(char** argv);

}  // namespace tg
