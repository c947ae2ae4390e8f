#pragma once
// Switches of tapegrad's kernel choices read from the environment, for A/B runs of one binary:
//   TG_SMALL_GEMM=never         every product through OpenBLAS (no libxsmm; kernels/blas.hpp)
//   TG_BATCH_WEIGHT_GRADS=never each weight gradient done by its op at once (ops/weight_grads.hpp)
#include <cstdlib>
#include <string>

#include "tapegrad.hpp"

namespace bench {

inline void apply_env_policies() {
  if (const char* policy = std::getenv("TG_SMALL_GEMM"); policy && std::string(policy) == "never") {
    tg::set_small_gemm(tg::SmallGemm::never);
  }
  if (const char* batch = std::getenv("TG_BATCH_WEIGHT_GRADS"); batch && std::string(batch) == "never") {
    tg::set_weight_grad_batching(tg::WeightGradBatching::never);
  }
}

}  // namespace bench
