#pragma once
/// Int8 matrix products for dynamically quantized inference, as PyTorch's
/// quantize_dynamic computes them on x86 (FBGEMM), through oneDNN's
/// dnnl_gemm_u8s8s32 (AVX2, AVX-512 and VNNI kernels chosen by oneDNN for the CPU).
///
/// A weight w [n, k] is stored as int8 values with one scale per output row (or
/// one for the whole matrix), symmetric: w ~ scale_j * q_jk, q in [-128, 127].
/// Activations x [m, k] are quantized at each call, asymmetric, to unsigned
/// values of 7 bits (PyTorch's reduce_range: two products of 8-bit values summed
/// in AVX2's 16-bit lanes would saturate; rounding can reach 128, which does not):
///   x ~ s (q_x - z),  with s and z from min(x, 0) and max(x, 0) as PyTorch chooses them,
/// per row of x (the default: each row gets its own range) or for all of x
/// (PyTorch's choice). The product is accumulated in int32 and scaled back:
///   y_ij = s_i scale_j (sum_k q_x,ik q_jk - z_i sum_k q_jk).
/// docs/compression.md has the error bound and the measurements.

#include <cstddef>
#include <cstdint>
#include <vector>

namespace tg {

/// A weight [rows, cols] (PyTorch's [out, in]) in int8 with its scales.
struct Int8Matrix {
  std::size_t rows = 0, cols = 0;
  std::vector<std::int8_t> values;     ///< [rows, cols], row-major
  std::vector<float> scales;           ///< rows scales (per row), or 1 (per tensor)
  std::vector<std::int32_t> row_sums;  ///< sum of each row's values (for the activations' zero point)
  std::vector<float> row_scales;       ///< each row's scale, per row or not

  float scale(std::size_t row) const { return scales.size() == 1 ? scales[0] : scales[row]; }
  bool per_row() const { return scales.size() == rows && rows != 1; }
};

/// w [rows, cols] quantized symmetrically as PyTorch's observers do it (qint8,
/// symmetric): scale = max(max |w| / 127.5, FLT_EPSILON) per row (or over all of
/// w), q = clamp(nearbyint(w * (1 / scale)), -128, 127), all in float.
/// Throws Error naming the first value that is not finite.
Int8Matrix quantize_symmetric(const float* w, std::size_t rows, std::size_t cols, bool per_row);

/// An Int8Matrix from stored values and scales (a checkpoint's, PyTorch's).
/// Throws Error when the sizes do not fit (rows * cols values; rows or 1
/// scales) or a scale is not finite and positive, naming `what` and the problem.
Int8Matrix int8_matrix(std::vector<std::int8_t> values, std::vector<float> scales, std::size_t rows, std::size_t cols,
                       const char* what);

/// The weight's float values, scale_j q_jk, into w [rows, cols].
void dequantize(const Int8Matrix& q, float* w);

/// How activations are quantized at each product.
enum class ActivationQuantization {
  per_row,    ///< each row of x its own scale and zero point (more accurate; the default)
  per_tensor  ///< one for all of x, as PyTorch's quantize_dynamic
};

/// An activation range's scale and zero point for unsigned 7-bit values: PyTorch's
/// ChooseQuantizationParams with qmin 0, qmax 127 (the range extended to hold 0;
/// a zero or tiny scale replaced as PyTorch does; the zero point rounded to
/// nearest even and clamped).
struct ActivationScale {
  float scale = 1.0f;
  float inverse = 1.0f;  ///< 1 / scale, from the scale in double as PyTorch (oneDNN) takes it
  std::int32_t zero_point = 0;
};
ActivationScale choose_activation_scale(float min, float max);

/// y = x w^T, or y += x w^T when accumulating, for float x [m, k] (row-major,
/// contiguous, k = w.cols) and y [m, w.rows], through int8 values as above.
/// Uses blas_threads() threads where the product is large enough for them to pay
/// (blas_threads_pay), one otherwise. Throws Error if oneDNN fails.
void int8_times_weight_t(std::size_t m, const float* x, const Int8Matrix& w, ActivationQuantization activations,
                         bool accumulate, float* y);

}  // namespace tg
