#include "tapegrad/kernels/fast_math.hpp"

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>

#include <fmt/format.h>

#include "tapegrad/base/error.hpp"

// The float loops below work on GCC's vector types (a vector of W floats, the
// width of one register of the target they are compiled for), which always
// compile to packed instructions. Plain loops over fast::exp vectorised only for
// AVX-512: GCC 12 left every exp, sigmoid and tanh loop scalar in the AVX2 and
// SSE2 clones (docs/performance.md, "Every x86 level").
// The helpers taking vectors are always inlined into those clones, so the
// vector-ABI note GCC attaches to them (-Wpsabi) concerns no real call.
#pragma GCC diagnostic ignored "-Wpsabi"

namespace tg::fast {
namespace {

// W floats in one register, and W unsigned ints of the same bits: SSE2 4, AVX2 8, AVX-512 16.
template <std::size_t W>
struct Lanes;
template <>
struct Lanes<4> {
  typedef float Floats __attribute__((vector_size(16)));
  typedef std::uint32_t Bits __attribute__((vector_size(16)));
};
template <>
struct Lanes<8> {
  typedef float Floats __attribute__((vector_size(32)));
  typedef std::uint32_t Bits __attribute__((vector_size(32)));
};
template <>
struct Lanes<16> {
  typedef float Floats __attribute__((vector_size(64)));
  typedef std::uint32_t Bits __attribute__((vector_size(64)));
};

template <class F>
[[gnu::always_inline]] inline F load(const float* p) {
  F v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
template <class F>
[[gnu::always_inline]] inline void store(float* p, const F& v) {
  std::memcpy(p, &v, sizeof v);
}
// Lanes where `mask` (a comparison's result) is set take a, the others b.
template <class F, class M>
[[gnu::always_inline]] inline F select(const M& mask, const F& a, const F& b) {
  return (F)(((M)a & mask) | ((M)b & ~mask));
}

// fast::exp (fast_math.hpp) on W lanes, operation for operation.
template <std::size_t W>
[[gnu::always_inline]] inline typename Lanes<W>::Floats exp_lanes(const typename Lanes<W>::Floats& in) {
  using F = typename Lanes<W>::Floats;
  using B = typename Lanes<W>::Bits;
  const F low = F{} - 87.0f, high = F{} + 88.5f;
  F x = select<F, B>(in < low, low, in);
  x = select<F, B>(x > high, high, x);
  F p, shifted;
  exp_of_remainder(x, p, shifted);
  B bits = (B)p;
  bits += ((B)shifted - 0x4B400000u) << 23;
  return (F)bits;
}

// The element functions of the maps, each on one float and on W lanes.
struct ExpOrZero {
  static float one(float x) { return exp_or_zero(x); }
  template <std::size_t W>
  [[gnu::always_inline]] static typename Lanes<W>::Floats lanes(const typename Lanes<W>::Floats& x) {
    using F = typename Lanes<W>::Floats;
    return select<F, typename Lanes<W>::Bits>(x < -87.0f, F{}, exp_lanes<W>(x));
  }
};
struct Sigmoid {
  static float one(float x) { return sigmoid(x); }
  template <std::size_t W>
  [[gnu::always_inline]] static typename Lanes<W>::Floats lanes(const typename Lanes<W>::Floats& x) {
    return 1.0f / (1.0f + exp_lanes<W>(-x));
  }
};
struct Tanh {
  static float one(float x) { return tanh(x); }
  template <std::size_t W>
  [[gnu::always_inline]] static typename Lanes<W>::Floats lanes(const typename Lanes<W>::Floats& x) {
    return 2.0f / (1.0f + exp_lanes<W>(-2.0f * x)) - 1.0f;
  }
};

// The float loops are compiled three times, for AVX-512, for AVX2 with FMA and
// for the baseline (SSE2), and the first call picks what the CPU supports and
// TAPEGRAD_ISA allows. target_clones("arch=...") would choose by CPU model instead,
// and a model newer than the compiler (Sapphire or Emerald Rapids under GCC 12)
// falls back to the baseline.
using FloatKernel = void (*)(const float*, float*, std::size_t);

template <class Op, std::size_t W>
[[gnu::always_inline]] inline void map_body(const float* in, float* out, std::size_t n) {
  using F = typename Lanes<W>::Floats;
  std::size_t i = 0;
  for (; i + W <= n; i += W) store(out + i, Op::template lanes<W>(load<F>(in + i)));
  for (; i < n; ++i) out[i] = Op::one(in[i]);
}

template <class Op>
void map_baseline(const float* in, float* out, std::size_t n) {
  map_body<Op, 4>(in, out, n);
}
template <class Op>
__attribute__((target("avx2,fma"))) void map_avx2(const float* in, float* out, std::size_t n) {
  map_body<Op, 8>(in, out, n);
}
template <class Op>
__attribute__((target("avx512f,avx512vl,avx512dq,avx512bw,fma"))) void map_avx512(const float* in, float* out,
                                                                                  std::size_t n) {
  map_body<Op, 16>(in, out, n);
}

Isa parse_isa(const std::string& name) {
  if (name == "baseline") return Isa::baseline;
  if (name == "avx2") return Isa::avx2;
  if (name == "avx512") return Isa::avx512;
  throw Error(fmt::format("TAPEGRAD_ISA={}: not an instruction set level; use baseline, avx2 or avx512", name));
}

}  // namespace

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::avx512:
      return "avx512";
    case Isa::avx2:
      return "avx2";
    case Isa::baseline:
      break;
  }
  return "baseline";
}

Isa detected_isa() {
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

Isa requested_isa() {
  const char* name = std::getenv("TAPEGRAD_ISA");
  if (name == nullptr || *name == '\0') return detected_isa();
  const Isa isa = parse_isa(name);
  if (isa > detected_isa()) {
    throw Error(fmt::format("TAPEGRAD_ISA={}: this CPU has only {}", name, isa_name(detected_isa())));
  }
  return isa;
}

Isa widest_isa() {
  static const Isa isa = requested_isa();
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

template <class Op>
FloatKernel best_kernel() {
  return pick<FloatKernel>(map_baseline<Op>, map_avx2<Op>, map_avx512<Op>);
}

// The largest of x[0..n) (-inf when n = 0), as std::max(m, x[i]) in order would give it:
// W running maxima in one vector (a NaN never replaces them: x > m is false).
template <std::size_t W>
[[gnu::always_inline]] inline float max_body(const float* x, std::size_t n) {
  using F = typename Lanes<W>::Floats;
  using B = typename Lanes<W>::Bits;
  F m = F{} - __builtin_inff();
  std::size_t i = 0;
  for (; i + W <= n; i += W) {
    const F v = load<F>(x + i);
    m = select<F, B>(m < v, v, m);
  }
  float out = -__builtin_inff();
  for (std::size_t j = 0; j < W; ++j) out = out < m[j] ? m[j] : out;
  for (; i < n; ++i) out = out < x[i] ? x[i] : out;
  return out;
}

using MaxKernel = float (*)(const float*, std::size_t);
float max_baseline(const float* x, std::size_t n) { return max_body<4>(x, n); }
__attribute__((target("avx2,fma"))) float max_avx2(const float* x, std::size_t n) { return max_body<8>(x, n); }
__attribute__((target("avx512f,avx512vl,avx512dq,avx512bw,fma"))) float max_avx512(const float* x, std::size_t n) {
  return max_body<16>(x, n);
}

MaxKernel best_max_kernel() { return pick<MaxKernel>(max_baseline, max_avx2, max_avx512); }

// Additive attention's score row (see fast_math.hpp): the products summed in 16 lanes
// whatever W is (16 / W vectors), so that every clone adds in the same order.
constexpr std::size_t kScoreLanes = 16;

template <std::size_t W>
[[gnu::always_inline]] inline float score_row_body(const float* k, const float* q, const float* v, float* t,
                                                   std::size_t n) {
  using F = typename Lanes<W>::Floats;
  constexpr std::size_t vectors = kScoreLanes / W;
  F acc[vectors] = {};
  std::size_t i = 0;
  for (; i + kScoreLanes <= n; i += kScoreLanes) {
    for (std::size_t j = 0; j < vectors; ++j) {
      const std::size_t at = i + j * W;
      const F tv = Tanh::lanes<W>(load<F>(k + at) + load<F>(q + at));
      store(t + at, tv);
      acc[j] += tv * load<F>(v + at);
    }
  }
  float out = 0;
  for (; i < n; ++i) {
    t[i] = tanh(k[i] + q[i]);
    out += t[i] * v[i];
  }
  for (std::size_t j = 0; j < vectors; ++j)
    for (std::size_t l = 0; l < W; ++l) out += acc[j][l];
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
  return score_row_body<4>(k, q, v, t, n);
}
__attribute__((target("avx2,fma"))) float score_row_avx2(const float* k, const float* q, const float* v, float* t,
                                                         std::size_t n) {
  return score_row_body<8>(k, q, v, t, n);
}
__attribute__((target("avx512f,avx512vl,avx512dq,avx512bw,fma"))) float score_row_avx512(const float* k, const float* q,
                                                                                         const float* v, float* t,
                                                                                         std::size_t n) {
  return score_row_body<8>(k, q, v, t, n);
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

// out[i] = exp_or_zero(in[i] - shift), then their sum in 8 double lanes (a second loop,
// which GCC vectorises itself).
template <std::size_t W>
[[gnu::always_inline]] inline double exp_shifted_sum_body(const float* in, float shift, float* out, std::size_t n) {
  using F = typename Lanes<W>::Floats;
  std::size_t i = 0;
  for (; i + W <= n; i += W) store(out + i, ExpOrZero::lanes<W>(load<F>(in + i) - shift));
  for (; i < n; ++i) out[i] = exp_or_zero(in[i] - shift);
  constexpr std::size_t lanes = 8;
  double acc[lanes] = {};
  i = 0;
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
  return exp_shifted_sum_body<4>(in, shift, out, n);
}
__attribute__((target("avx2,fma"))) double exp_sum_avx2(const float* in, float shift, float* out, std::size_t n) {
  return exp_shifted_sum_body<8>(in, shift, out, n);
}
__attribute__((target("avx512f,avx512vl,avx512dq,avx512bw,fma"))) double exp_sum_avx512(const float* in, float shift,
                                                                                        float* out, std::size_t n) {
  return exp_shifted_sum_body<16>(in, shift, out, n);
}

template <std::size_t W>
[[gnu::always_inline]] inline void exp_shifted_affine_body(const float* in, float shift, float sub, float scale,
                                                           float* out, std::size_t n) {
  using F = typename Lanes<W>::Floats;
  std::size_t i = 0;
  for (; i + W <= n; i += W) store(out + i, (ExpOrZero::lanes<W>(load<F>(in + i) - shift) - sub) * scale);
  for (; i < n; ++i) out[i] = (exp_or_zero(in[i] - shift) - sub) * scale;
}

using ExpAffineKernel = void (*)(const float*, float, float, float, float*, std::size_t);
void exp_affine_baseline(const float* in, float shift, float sub, float scale, float* out, std::size_t n) {
  exp_shifted_affine_body<4>(in, shift, sub, scale, out, n);
}
__attribute__((target("avx2,fma"))) void exp_affine_avx2(const float* in, float shift, float sub, float scale,
                                                         float* out, std::size_t n) {
  exp_shifted_affine_body<8>(in, shift, sub, scale, out, n);
}
__attribute__((target("avx512f,avx512vl,avx512dq,avx512bw,fma"))) void exp_affine_avx512(const float* in, float shift,
                                                                                         float sub, float scale,
                                                                                         float* out, std::size_t n) {
  exp_shifted_affine_body<16>(in, shift, sub, scale, out, n);
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

}  // namespace

float max(const float* x, std::size_t n) {
  static const MaxKernel kernel = best_max_kernel();
  return kernel(x, n);
}

void exp_or_zero(const float* in, float* out, std::size_t n) {
  static const FloatKernel kernel = best_kernel<ExpOrZero>();
  kernel(in, out, n);
}

void sigmoid(const float* in, float* out, std::size_t n) {
  static const FloatKernel kernel = best_kernel<Sigmoid>();
  kernel(in, out, n);
}

void tanh(const float* in, float* out, std::size_t n) {
  static const FloatKernel kernel = best_kernel<Tanh>();
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

namespace {

// The loops of int8 products' activations (kernels/int8_gemm.hpp), on W lanes.
template <std::size_t W>
struct IntLanes {
  typedef std::int32_t Ints __attribute__((vector_size(4 * W)));
  typedef std::uint8_t Bytes __attribute__((vector_size(W)));
};

template <std::size_t W>
[[gnu::always_inline]] inline std::pair<float, float> range_body(const float* x, std::size_t n) {
  using F = typename Lanes<W>::Floats;
  using B = typename Lanes<W>::Bits;
  F low{}, high{};
  std::size_t i = 0;
  for (; i + W <= n; i += W) {
    const F v = load<F>(x + i);
    low = select<F, B>(v < low, v, low);
    high = select<F, B>(v > high, v, high);
  }
  float lo = 0.0f, hi = 0.0f;
  for (std::size_t j = 0; j < W; ++j) {
    lo = low[j] < lo ? low[j] : lo;
    hi = high[j] > hi ? high[j] : hi;
  }
  for (; i < n; ++i) {
    lo = x[i] < lo ? x[i] : lo;
    hi = x[i] > hi ? x[i] : hi;
  }
  return {lo, hi};
}

// Adding and taking away 1.5 * 2^23 rounds a float below 2^22 in magnitude to the nearest
// integer, ties to even, as nearbyint does; larger values are integers already.
constexpr float kRoundingMagic = 12582912.0f;

// nearbyint(float(x * inverse) + zero), clamped to [0, 255], as PyTorch's oneDNN engine
// quantizes; NaN is taken as 0. The product passes through a select before the addition, so that
// no compiler fuses the two into a multiply-add, which would round differently.
inline float quantized_7bit(float x, float inverse, float zero) {
  float p = x * inverse;
  p = p == p ? p : 0.0f;
  float v = ((p + zero) + kRoundingMagic) - kRoundingMagic;
  v = v > 0.0f ? v : 0.0f;
  return v < 255.0f ? v : 255.0f;
}

template <std::size_t W>
[[gnu::always_inline]] inline void quantize_body(const float* x, std::size_t n, float inverse, float zero,
                                                 std::uint8_t* q) {
  using F = typename Lanes<W>::Floats;
  using B = typename Lanes<W>::Bits;
  using I = typename IntLanes<W>::Ints;
  using U = typename IntLanes<W>::Bytes;
  std::size_t i = 0;
  for (; i + W <= n; i += W) {
    F p = load<F>(x + i) * inverse;
    p = select<F, B>(p == p, p, F{});
    F v = ((p + zero) + kRoundingMagic) - kRoundingMagic;
    v = select<F, B>(v > 0.0f, v, F{});
    v = select<F, B>(v < 255.0f, v, F{} + 255.0f);
    const U bytes = __builtin_convertvector(__builtin_convertvector(v, I), U);
    std::memcpy(q + i, &bytes, W);
  }
  for (; i < n; ++i) q[i] = static_cast<std::uint8_t>(quantized_7bit(x[i], inverse, zero));
}

template <std::size_t W>
[[gnu::always_inline]] inline void dequantize_body(const std::int32_t* c, const std::int32_t* sums, std::int32_t zero,
                                                   float scale, const float* scales, bool accumulate, float* y,
                                                   std::size_t n) {
  using F = typename Lanes<W>::Floats;
  using I = typename IntLanes<W>::Ints;
  std::size_t j = 0;
  for (; j + W <= n; j += W) {
    I ci, si;
    std::memcpy(&ci, c + j, sizeof ci);
    std::memcpy(&si, sums + j, sizeof si);
    F v = __builtin_convertvector(ci - zero * si, F) * (scale * load<F>(scales + j));
    if (accumulate) v += load<F>(y + j);
    store(y + j, v);
  }
  for (; j < n; ++j) {
    const float v = static_cast<float>(c[j] - zero * sums[j]) * (scale * scales[j]);
    y[j] = accumulate ? y[j] + v : v;
  }
}

using RangeKernel = std::pair<float, float> (*)(const float*, std::size_t);
std::pair<float, float> range_baseline(const float* x, std::size_t n) { return range_body<4>(x, n); }
__attribute__((target("avx2,fma"))) std::pair<float, float> range_avx2(const float* x, std::size_t n) {
  return range_body<8>(x, n);
}
__attribute__((target("avx512f,avx512vl,avx512dq,avx512bw,fma"))) std::pair<float, float> range_avx512(const float* x,
                                                                                                       std::size_t n) {
  return range_body<16>(x, n);
}

using QuantizeKernel = void (*)(const float*, std::size_t, float, float, std::uint8_t*);
void quantize_baseline(const float* x, std::size_t n, float inverse, float zero, std::uint8_t* q) {
  quantize_body<4>(x, n, inverse, zero, q);
}
__attribute__((target("avx2,fma"))) void quantize_avx2(const float* x, std::size_t n, float inverse, float zero,
                                                       std::uint8_t* q) {
  quantize_body<8>(x, n, inverse, zero, q);
}
__attribute__((target("avx512f,avx512vl,avx512dq,avx512bw,fma"))) void quantize_avx512(const float* x, std::size_t n,
                                                                                       float inverse, float zero,
                                                                                       std::uint8_t* q) {
  quantize_body<16>(x, n, inverse, zero, q);
}

using DequantizeKernel = void (*)(const std::int32_t*, const std::int32_t*, std::int32_t, float, const float*, bool,
                                  float*, std::size_t);
void dequantize_baseline(const std::int32_t* c, const std::int32_t* sums, std::int32_t zero, float scale,
                         const float* scales, bool accumulate, float* y, std::size_t n) {
  dequantize_body<4>(c, sums, zero, scale, scales, accumulate, y, n);
}
__attribute__((target("avx2,fma"))) void dequantize_avx2(const std::int32_t* c, const std::int32_t* sums,
                                                         std::int32_t zero, float scale, const float* scales,
                                                         bool accumulate, float* y, std::size_t n) {
  dequantize_body<8>(c, sums, zero, scale, scales, accumulate, y, n);
}
__attribute__((target("avx512f,avx512vl,avx512dq,avx512bw,fma"))) void dequantize_avx512(
    const std::int32_t* c, const std::int32_t* sums, std::int32_t zero, float scale, const float* scales,
    bool accumulate, float* y, std::size_t n) {
  dequantize_body<16>(c, sums, zero, scale, scales, accumulate, y, n);
}

}  // namespace

std::pair<float, float> range_with_zero(const float* x, std::size_t n) {
  static const RangeKernel kernel = pick<RangeKernel>(range_baseline, range_avx2, range_avx512);
  return kernel(x, n);
}

void quantize_7bit(const float* x, std::size_t n, float inverse, float zero, std::uint8_t* q) {
  static const QuantizeKernel kernel = pick<QuantizeKernel>(quantize_baseline, quantize_avx2, quantize_avx512);
  kernel(x, n, inverse, zero, q);
}

void dequantize_int32(const std::int32_t* c, const std::int32_t* sums, std::int32_t zero, float scale,
                      const float* scales, bool accumulate, float* y, std::size_t n) {
  static const DequantizeKernel kernel =
      pick<DequantizeKernel>(dequantize_baseline, dequantize_avx2, dequantize_avx512);
  kernel(c, sums, zero, scale, scales, accumulate, y, n);
}

void sigmoid(const double* in, double* out, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) out[i] = sigmoid(in[i]);
}

void tanh(const double* in, double* out, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) out[i] = tanh(in[i]);
}

}  // namespace tg::fast
