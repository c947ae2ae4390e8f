#pragma once
/// softmax and log_softmax: one primitive each, with a fused backward.
///
/// Both subtract the maximum along the axis first, so logits of 1e4 or -1e4
/// neither overflow nor underflow into NaN. An entry of -inf (as masked_fill
/// writes before a softmax) is masked: probability exactly 0 and gradient
/// exactly 0. A row that is entirely -inf produces no NaN, forward or backward.

#include <cstddef>

#include "tapegrad/autodiff/var.hpp"

namespace tg {

/// One contiguous row of n values as softmax() computes it (for fused ops that
/// softmax rows of their own): out = exp(in - max) / sum, summed in double; a
/// row of -inf gives zeros. T is float or double.
template <class T>
void softmax_row(const T* in, T* out, std::size_t n);
/// softmax()'s backward over one such row: dx = y * (dy - sum(dy * y)), 0 where y is 0.
template <class T>
void softmax_row_backward(const T* y, const T* dy, T* dx, std::size_t n);

/// exp(x - max) / sum(exp(x - max)) along `axis` (negative counts from the end).
/// A fully masked row (all -inf) gives all zeros.
Var softmax(const Var& x, long axis = -1);

/// x - max - log(sum(exp(x - max))) along `axis`: the log of softmax, without
/// forming it. Masked entries stay -inf; a fully masked row is all -inf. Both
/// get gradient 0.
Var log_softmax(const Var& x, long axis = -1);

}  // namespace tg
