#include "tapegrad/kernels/fast_math.hpp"

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

}  // namespace

Isa widest_isa() {
  static const Isa isa = [] {
#if defined(__x86_64__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
        __builtin_cpu_supports("avx512bw")) {
      return Isa::avx512;
    }
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return Isa::avx2;
#endif
    return Isa::baseline;
  }();
  return isa;
}

namespace {

template <typename Kernel>
Kernel pick(Kernel baseline, Kernel avx2, Kernel avx512) {
  switch (widest_isa()) {
    case Isa::avx512:
      return avx512;
    case Isa::avx2:
      return avx2;
    case Isa::baseline:
      break;
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

// Additive attention's score row and its backward (see fast_math.hpp), in 16 lanes
// so that the sums vectorise.
inline float score_row_in_lanes(const float* k, const float* q, const float* v, float* t, std::size_t n) {
  constexpr std::size_t lanes = 16;
  float acc[lanes] = {};
  std::size_t i = 0;
  for (; i + lanes <= n; i += lanes) {
    for (std::size_t j = 0; j < lanes; ++j) {
      const float tv = tanh(k[i + j] + q[i + j]);
      t[i + j] = tv;
      acc[j] += tv * v[i + j];
    }
  }
  float out = 0;
  for (; i < n; ++i) {
    t[i] = tanh(k[i] + q[i]);
    out += t[i] * v[i];
  }
  for (float a : acc) out += a;
  return out;
}

inline void score_row_backward_body(float g, const float* __restrict t, const float* __restrict v, float* __restrict dk,
                                    bool add_dk, float* __restrict dq, float* __restrict dv, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) {
    const float p = g * v[i] * (1.0f - t[i] * t[i]);
    if (dk != nullptr) dk[i] = add_dk ? dk[i] + p : p;
    if (dq != nullptr) dq[i] += p;
    if (dv != nullptr) dv[i] += g * t[i];
  }
}

using ScoreRowKernel = float (*)(const float*, const float*, const float*, float*, std::size_t);
float score_row_baseline(const float* k, const float* q, const float* v, float* t, std::size_t n) {
  return score_row_in_lanes(k, q, v, t, n);
}
__attribute__((target("avx2,fma"))) float score_row_avx2(const float* k, const float* q, const float* v, float* t,
                                                         std::size_t n) {
  return score_row_in_lanes(k, q, v, t, n);
}
__attribute__((target("avx512f,avx512vl,avx512dq,avx512bw,fma"))) float score_row_avx512(const float* k, const float* q,
                                                                                         const float* v, float* t,
                                                                                         std::size_t n) {
  return score_row_in_lanes(k, q, v, t, n);
}

using ScoreBackwardKernel = void (*)(float, const float*, const float*, float*, bool, float*, float*, std::size_t);
void score_backward_baseline(float g, const float* t, const float* v, float* dk, bool add_dk, float* dq, float* dv,
                             std::size_t n) {
  score_row_backward_body(g, t, v, dk, add_dk, dq, dv, n);
}
__attribute__((target("avx2,fma"))) void score_backward_avx2(float g, const float* t, const float* v, float* dk,
                                                             bool add_dk, float* dq, float* dv, std::size_t n) {
  score_row_backward_body(g, t, v, dk, add_dk, dq, dv, n);
}
__attribute__((target("avx512f,avx512vl,avx512dq,avx512bw,fma"))) void score_backward_avx512(float g, const float* t,
                                                                                             const float* v, float* dk,
                                                                                             bool add_dk, float* dq,
                                                                                             float* dv, std::size_t n) {
  score_row_backward_body(g, t, v, dk, add_dk, dq, dv, n);
}

// out[i] = exp_or_zero(in[i] - shift), then their sum in 8 double lanes: two loops,
// because one that both exps and widens to double did not vectorise (GCC 12).
inline double exp_shifted_sum_in_lanes(const float* in, float shift, float* out, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) out[i] = exp_or_zero(in[i] - shift);
  constexpr std::size_t lanes = 8;
  double acc[lanes] = {};
  std::size_t i = 0;
  for (; i + lanes <= n; i += lanes) {
    for (std::size_t j = 0; j < lanes; ++j) acc[j] += static_cast<double>(out[i + j]);
  }
  double sum = 0;
  for (; i < n; ++i) sum += static_cast<double>(out[i]);
  for (double a : acc) sum += a;
  return sum;
}

using ExpSumKernel = double (*)(const float*, float, float*, std::size_t);
double exp_sum_baseline(const float* in, float shift, float* out, std::size_t n) {
  return exp_shifted_sum_in_lanes(in, shift, out, n);
}
__attribute__((target("avx2,fma"))) double exp_sum_avx2(const float* in, float shift, float* out, std::size_t n) {
  return exp_shifted_sum_in_lanes(in, shift, out, n);
}
__attribute__((target("avx512f,avx512vl,avx512dq,avx512bw,fma"))) double exp_sum_avx512(const float* in, float shift,
                                                                                        float* out, std::size_t n) {
  return exp_shifted_sum_in_lanes(in, shift, out, n);
}

inline void exp_shifted_affine_body(const float* in, float shift, float sub, float scale, float* out, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) out[i] = (exp_or_zero(in[i] - shift) - sub) * scale;
}

using ExpAffineKernel = void (*)(const float*, float, float, float, float*, std::size_t);
void exp_affine_baseline(const float* in, float shift, float sub, float scale, float* out, std::size_t n) {
  exp_shifted_affine_body(in, shift, sub, scale, out, n);
}
__attribute__((target("avx2,fma"))) void exp_affine_avx2(const float* in, float shift, float sub, float scale,
                                                         float* out, std::size_t n) {
  exp_shifted_affine_body(in, shift, sub, scale, out, n);
}
__attribute__((target("avx512f,avx512vl,avx512dq,avx512bw,fma"))) void exp_affine_avx512(const float* in, float shift,
                                                                                         float sub, float scale,
                                                                                         float* out, std::size_t n) {
  exp_shifted_affine_body(in, shift, sub, scale, out, n);
}

inline void add_into_body(float* __restrict acc, const float* __restrict x, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) acc[i] += x[i];
}

using AddKernel = void (*)(float*, const float*, std::size_t);
void add_baseline(float* acc, const float* x, std::size_t n) { add_into_body(acc, x, n); }
__attribute__((target("avx2,fma"))) void add_avx2(float* acc, const float* x, std::size_t n) {
  add_into_body(acc, x, n);
}
__attribute__((target("avx512f,avx512vl,avx512dq,avx512bw,fma"))) void add_avx512(float* acc, const float* x,
                                                                                  std::size_t n) {
  add_into_body(acc, x, n);
}

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

double exp_shifted_sum(const float* in, float shift, float* out, std::size_t n) {
  static const ExpSumKernel kernel = pick<ExpSumKernel>(exp_sum_baseline, exp_sum_avx2, exp_sum_avx512);
  return kernel(in, shift, out, n);
}

void exp_shifted_affine(const float* in, float shift, float sub, float scale, float* out, std::size_t n) {
  static const ExpAffineKernel kernel = pick<ExpAffineKernel>(exp_affine_baseline, exp_affine_avx2, exp_affine_avx512);
  kernel(in, shift, sub, scale, out, n);
}

void add_into(float* acc, const float* x, std::size_t n) {
  static const AddKernel kernel = pick<AddKernel>(add_baseline, add_avx2, add_avx512);
  kernel(acc, x, n);
}

float additive_score_row(const float* k, const float* q, const float* v, float* t, std::size_t n) {
  static const ScoreRowKernel kernel = pick<ScoreRowKernel>(score_row_baseline, score_row_avx2, score_row_avx512);
  return kernel(k, q, v, t, n);
}

void additive_score_row_backward(float g, const float* t, const float* v, float* dk, bool add_dk, float* dq, float* dv,
                                 std::size_t n) {
  static const ScoreBackwardKernel kernel =
      pick<ScoreBackwardKernel>(score_backward_baseline, score_backward_avx2, score_backward_avx512);
  kernel(g, t, v, dk, add_dk, dq, dv, n);
}

void sigmoid(const double* in, double* out, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) out[i] = sigmoid(in[i]);
}

void tanh(const double* in, double* out, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) out[i] = tanh(in[i]);
}

}  // namespace tg::fast
