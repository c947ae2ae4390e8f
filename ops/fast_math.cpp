#include "fast_math.hpp"

namespace tg::fast {
namespace {

// The float loops are compiled three times, for AVX-512, for AVX2 with FMA and
// for the baseline (SSE2), and the first call picks what the CPU supports.
// target_clones("arch=...") would choose by CPU model instead, and a model newer
// than the compiler (Sapphire or Emerald Rapids under GCC 12) falls back to the
// baseline: measured, the attention's tanh then ran 4 floats at a time.
using FloatKernel = void (*)(const float*, float*, std::size_t);

template <float (*F)(float)>
void map_baseline(const float* in, float* out, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) out[i] = F(in[i]);
}
template <float (*F)(float)>
__attribute__((target("avx2,fma"))) void map_avx2(const float* in, float* out, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) out[i] = F(in[i]);
}
template <float (*F)(float)>
__attribute__((target("avx512f,avx512vl,avx512dq,avx512bw,fma"))) void map_avx512(const float* in, float* out,
                                                                                  std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) out[i] = F(in[i]);
}

template <float (*F)(float)>
FloatKernel best_kernel() {
#if defined(__x86_64__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
      __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512bw")) {
    return map_avx512<F>;
  }
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return map_avx2<F>;
#endif
  return map_baseline<F>;
}

float exp_or_zero_one(float x) { return exp_or_zero(x); }
float sigmoid_one(float x) { return sigmoid(x); }
float tanh_one(float x) { return tanh(x); }

}  // namespace

void exp_or_zero(const float* in, float* out, std::size_t n) {
  static const FloatKernel kernel = best_kernel<exp_or_zero_one>();
  kernel(in, out, n);
}

void sigmoid(const float* in, float* out, std::size_t n) {
  static const FloatKernel kernel = best_kernel<sigmoid_one>();
  kernel(in, out, n);
}

void tanh(const float* in, float* out, std::size_t n) {
  static const FloatKernel kernel = best_kernel<tanh_one>();
  kernel(in, out, n);
}

void sigmoid(const double* in, double* out, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) out[i] = sigmoid(in[i]);
}

void tanh(const double* in, double* out, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) out[i] = tanh(in[i]);
}

}  // namespace tg::fast
