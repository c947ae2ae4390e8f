#pragma once
/// Process control for the programs (the command line, the benchmarks, the
/// memory test), not for the library: OpenBLAS reads OPENBLAS_CORETYPE only when
/// it loads, so choosing faster kernels means starting the process again.

#include <string>

#include "tapegrad/kernels/fast_math.hpp"

namespace tg {

/// The OPENBLAS_CORETYPE this CPU should use when OpenBLAS fell back to generic
/// kernels although the CPU has AVX2 or AVX-512 ("SKYLAKEX" or "HASWELL");
/// empty when the kernels in use are fine.
std::string blas_better_core();

/// The OPENBLAS_CORETYPE of an instruction-set level: "SKYLAKEX" (avx512), "HASWELL"
/// (avx2) or "PRESCOTT" (baseline, OpenBLAS's generic SSE3 kernels).
std::string blas_core_for(fast::Isa isa);

/// The core OpenBLAS should load with, when it is not the one it chose: the level
/// TAPEGRAD_ISA asks for, when that is below the CPU's (fast::requested_isa(); throws
/// Error for a value it refuses), else blas_better_core(). Empty when OPENBLAS_CORETYPE
/// is set already (by the user, or by a restart) or the choice is fine.
std::string blas_core_to_restart_with();

/// When blas_core_to_restart_with() names a core, sets OPENBLAS_CORETYPE to it and
/// replaces the process with a fresh start of the same program (execv of
/// /proc/self/exe with argv), so that OpenBLAS loads those kernels. Returns only when
/// it did nothing (or the restart failed): then it returns the core it would have
/// used ("" if none), for a note to the user.
std::string restart_with_better_blas(char** argv);

}  // namespace tg
