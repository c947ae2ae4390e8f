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

// The widest instruction set the CPU supports, of the three the loops are built for.
enum class Isa { baseline, avx2, avx512 };

Isa widest_isa() {
#if defined(__x86_64__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
      __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512bw")) {
    return Isa::avx512;
  }
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return Isa::avx2;
#endif
  return Isa::baseline;
}

template <typename Kernel>
Kernel pick(Kernel baseline, Kernel avx2, Kernel avx512) {
  switch (widest_isa()) {
    case Isa::avx512: return avx512;
    case Isa::avx2: return avx2;
    case Isa::baseline: break;
  }
  return baseline;
}

template <float (*F)(float)>
FloatKernel best_kernel() {
  return pick<FloatKernel>(map_baseline<F>, map_avx2<F>, map_avx512<F>);
}

// The largest of x[0..n) (-inf when n = 0), as std::max(m, x[i]) in order would give it:
// 16 running maxima, so that the compiler can keep them in one vector.
inline float max_in_lanes(const float* x, std::size_t n) {
  constexpr std::size_t lanes = 16;
  float m[lanes];
  for (float& v : m) v = -__builtin_inff();
  std::size_t i = 0;
  for (; i + lanes <= n; i += lanes)
    for (std::size_t j = 0; j < lanes; ++j) m[j] = m[j] < x[i + j] ? x[i + j] : m[j];
  float out = -__builtin_inff();
  for (float v : m) out = out < v ? v : out;
  for (; i < n; ++i) out = out < x[i] ? x[i] : out;
  return out;
}

using MaxKernel = float (*)(const float*, std::size_t);
float max_baseline(const float* x, std::size_t n) { return max_in_lanes(x, n); }
__attribute__((target("avx2,fma"))) float max_avx2(const float* x, std::size_t n) { return max_in_lanes(x, n); }
__attribute__((target("avx512f,avx512vl,avx512dq,avx512bw,fma"))) float max_avx512(const float* x, std::size_t n) {
  return max_in_lanes(x, n);
}

MaxKernel best_max_kernel() { return pick<MaxKernel>(max_baseline, max_avx2, max_avx512); }

float exp_or_zero_one(float x) { return exp_or_zero(x); }
float sigmoid_one(float x) { return sigmoid(x); }
float tanh_one(float x) { return tanh(x); }

}  // namespace

float max(const float* x, std::size_t n) {
  static const MaxKernel kernel = best_max_kernel();
  return kernel(x, n);
}

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
