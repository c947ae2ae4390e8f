#pragma once
// Switches of tapegrad's kernel choices read from the environment, for A/B runs of one binary:
//   TG_SMALL_GEMM=never         every product through OpenBLAS (no libxsmm; kernels/blas.hpp)
//   TG_BATCH_WEIGHT_GRADS=never each weight gradient done by its op at once (ops/weight_grads.hpp)
//   TG_KV_CACHE=never           the Transformer decodes without its key/value cache, every step
//                               over the whole prefix (TransformerSeq2Seq::key_value_cache; the
//                               models of configurations 1 and 2-blas, not 2-data's replicas)
#include <cstdlib>
#include <string>

#include "tapegrad.hpp"

namespace bench {

// Whether TG_KV_CACHE leaves the Transformer's key/value cache on.
inline bool key_value_cache() {
  const char* cache = std::getenv("TG_KV_CACHE");
  return !(cache && std::string(cache) == "never");
}

inline void apply_env_policies() {
  if (const char* policy = std::getenv("TG_SMALL_GEMM"); policy && std::string(policy) == "never") {
    tg::set_small_gemm(tg::SmallGemm::never);
  }
  if (const char* batch = std::getenv("TG_BATCH_WEIGHT_GRADS"); batch && std::string(batch) == "never") {
    tg::set_weight_grad_batching(tg::WeightGradBatching::never);
  }
}

}  // namespace bench
