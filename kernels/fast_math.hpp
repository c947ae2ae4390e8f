#pragma once
/// exp, sigmoid and tanh over arrays of floats, written so that the compiler
/// vectorises them (no library call per element, no branches): the recurrent
/// cells spend a fifth of a training step in these functions when they call
/// glibc's scalar expf and tanhf. Doubles go to the standard library, so float64
/// results (gradcheck) are untouched.
///
/// Accuracy for float: exp within 2 ulp on [-87, 88.5] (the input is clamped to
/// that range: no infinities, e^-87 ~ 1.6e-38 below); sigmoid within 2e-7 absolute and 1e-6
/// relative; tanh within 2e-7 absolute (2 sigmoid(2x) - 1: the absolute error of
/// float rounding near 1, so tiny inputs lose relative, not absolute, accuracy).
/// tests/ops/test_fast_math.cpp checks these bounds against std:: over the range.

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <utility>

namespace tg::fast {

/// The instruction sets the float loops are compiled for, in order.
enum class Isa { baseline, avx2, avx512 };
/// "baseline", "avx2" or "avx512", as TAPEGRAD_ISA spells them.
const char* isa_name(Isa isa);
/// The widest of them this CPU has.
Isa detected_isa();
/// The level the environment variable TAPEGRAD_ISA asks for (baseline, avx2 or avx512),
/// detected_isa() when it is unset or empty. Throws Error when it names no level, or one
/// above detected_isa().
Isa requested_isa();
/// The level the loops run at: requested_isa(), read once, at the first call (which
/// throws its Error for a bad TAPEGRAD_ISA; the `tapegrad` command checks it at start). Loops
/// elsewhere (Adam's update) and the choice of libxsmm (blas.hpp) go by it too, so that
/// TAPEGRAD_ISA=avx2 measures an AVX-512 machine as if it had AVX2 only
/// (docs/performance.md, "Every x86 level").
Isa widest_isa();

/// The arithmetic of exp below for an x already clamped to [-87, 88.5], on one float or on
/// a GCC vector of floats (kernels/fast_math.cpp): x = n ln2 + r with |r| <= ln2 / 2, e^r by
/// a degree-6 polynomial into `p`, and n in the low bits of `shifted` (as round(x / ln2) +
/// 1.5 * 2^23, the 1.5 * 2^23 trick: exact for |n| < 2^22). Results by reference: a vector
/// returned by value would change the ABI of the SSE2 build (GCC's -Wpsabi).
template <class T>
[[gnu::always_inline]] inline void exp_of_remainder(const T& x, T& p, T& shifted) {
  shifted = x * 1.44269504088896341f + 12582912.0f;
  const T n = shifted - 12582912.0f;
  T r = x - n * 0.693359375f;   // ln2 split in a high part exact in float...
  r = r - n * -2.12194440e-4f;  // ...and the rest
  p = T{} + 1.9875691500e-4f;   // a float, or a vector of it
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
}

/// e^x for one float, branch-free: exp_of_remainder's e^r times 2^n, by adding n to
/// the exponent bits.
inline float exp(float x) {
  x = x < -87.0f ? -87.0f : (x > 88.5f ? 88.5f : x);
  float p, shifted;
  exp_of_remainder(x, p, shifted);
  // Unsigned arithmetic: n may be negative, and the sum wraps to the right bits.
  std::uint32_t bits, shifted_bits;
  std::memcpy(&bits, &p, sizeof bits);
  std::memcpy(&shifted_bits, &shifted, sizeof shifted_bits);
  bits += (shifted_bits - 0x4B400000u) << 23;  // + n in the exponent
  float out;
  std::memcpy(&out, &bits, sizeof out);
  return out;
}

/// e^x, but exactly 0 below -87 (e^-87 ~ 1.6e-38, at the edge of the normal floats) and
/// for -inf: a softmax's masked entries stay exactly 0.
inline float exp_or_zero(float x) { return x < -87.0f ? 0.0f : fast::exp(x); }

inline float sigmoid(float x) { return 1.0f / (1.0f + fast::exp(-x)); }
inline float tanh(float x) { return 2.0f / (1.0f + fast::exp(-2.0f * x)) - 1.0f; }

inline double sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }
inline double tanh(double x) { return std::tanh(x); }

/// out[i] = exp_or_zero(in[i]), sigmoid(in[i]) or tanh(in[i]) for i < n (out may be
/// in). The float versions are compiled for AVX-512, for AVX2 with FMA and for
/// the baseline, and the first call picks the best the CPU has (widest_isa()):
/// the baseline alone runs 4 floats at a time (SSE2).
void exp_or_zero(const float* in, float* out, std::size_t n);
/// The largest of x[0..n), as a chain of m = std::max(m, x[i]) from m = -inf gives it: -inf
/// when n = 0, NaN entries skipped. Vectorised as exp_or_zero.
float max(const float* x, std::size_t n);
void sigmoid(const float* in, float* out, std::size_t n);
/// out[i] = exp_or_zero(in[i] - shift) for i < n (out may be in), and their sum in
/// double: softmax's and cross-entropy's rows in one vectorised pass.
double exp_shifted_sum(const float* in, float shift, float* out, std::size_t n);
/// out[i] = (exp_or_zero(in[i] - shift) - sub) * scale for i < n: cross-entropy's
/// gradient row (softmax minus the smoothed target, times the row's weight) in one
/// vectorised pass.
void exp_shifted_affine(const float* in, float shift, float sub, float scale, float* out, std::size_t n);
/// acc[i] += x[i] for i < n, vectorised as exp_or_zero (a bias's gradient, row by row).
void add_into(float* acc, const float* x, std::size_t n);
/// One row of additive attention's scores: t[i] = tanh(k[i] + q[i]) for i < n,
/// and the result v . t (summed in 16 lanes). Vectorised as exp_or_zero.
float additive_score_row(const float* k, const float* q, const float* v, float* t, std::size_t n);
/// Its backward for the row's output gradient g, with p[i] = g v[i] (1 - t[i]^2):
/// dk = p (dk += p when add_dk), dq += p, dv += g t. A null dk, dq or dv is not wanted.
void additive_score_row_backward(float g, const float* t, const float* v, float* dk, bool add_dk, float* dq, float* dv,
                                 std::size_t n);
void tanh(const float* in, float* out, std::size_t n);
/// The loops of int8 products (kernels/int8_gemm.hpp):
/// min(0, x) and max(0, x) over x[0..n), NaNs left out: the range activations are quantized in;
std::pair<float, float> range_with_zero(const float* x, std::size_t n);
/// q[i] = clamp(nearbyint(x[i] * inverse + zero), 0, 255), the product rounded before the sum
/// (ties to even; NaN as 0, q = zero);
void quantize_7bit(const float* x, std::size_t n, float inverse, float zero, std::uint8_t* q);
/// y[j] = float(c[j] - zero * sums[j]) * (scale * scales[j]), or y[j] += it when accumulating.
void dequantize_int32(const std::int32_t* c, const std::int32_t* sums, std::int32_t zero, float scale,
                      const float* scales, bool accumulate, float* y, std::size_t n);
void sigmoid(const double* in, double* out, std::size_t n);
void tanh(const double* in, double* out, std::size_t n);

}  // namespace tg::fast
