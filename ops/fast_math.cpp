#include "fast_math.hpp"

namespace tg::fast {

// One clone per instruction set; the sanitizer builds keep one plain version
// (their instrumentation and the loader's resolver do not mix).
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define TG_VECTOR_CLONES
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(memory_sanitizer) || __has_feature(thread_sanitizer)
#define TG_VECTOR_CLONES
#endif
#endif
#ifndef TG_VECTOR_CLONES
#define TG_VECTOR_CLONES __attribute__((target_clones("arch=skylake-avx512", "arch=haswell", "default")))
#endif

TG_VECTOR_CLONES void sigmoid(const float* in, float* out, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) out[i] = sigmoid(in[i]);
}

TG_VECTOR_CLONES void tanh(const float* in, float* out, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) out[i] = tanh(in[i]);
}

void sigmoid(const double* in, double* out, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) out[i] = sigmoid(in[i]);
}

void tanh(const double* in, double* out, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) out[i] = tanh(in[i]);
}

}  // namespace tg::fast
