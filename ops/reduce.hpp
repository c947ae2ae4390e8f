#pragma once
/// Reductions: sum, mean, max and logsumexp, over every element or over axes.
///
/// Each op has the same overloads:
///   op(x)                      every element, a rank-0 result
///   op(x, axis, keepdims)      one axis
///   op(x, {0, 2}, keepdims)    several axes ({} reduces none: a copy)
/// Axes may be negative (counted from the end); an axis outside [-rank, rank)
/// throws IndexError and an axis named twice throws Error. keepdims = true
/// keeps each reduced dimension with size 1. Sums run in double for float32.

#include <initializer_list>
#include <vector>

#include "tapegrad/autodiff/var.hpp"

namespace tg {

/// Sum of the elements; the sum of no elements is 0.
Var sum(const Var& x);
Var sum(const Var& x, const std::vector<long>& axes, bool keepdims = false);
Var sum(const Var& x, std::initializer_list<long> axes, bool keepdims = false);
Var sum(const Var& x, long axis, bool keepdims = false);

/// Mean of the elements; throws Error where a slice to average is empty.
Var mean(const Var& x);
Var mean(const Var& x, const std::vector<long>& axes, bool keepdims = false);
Var mean(const Var& x, std::initializer_list<long> axes, bool keepdims = false);
Var mean(const Var& x, long axis, bool keepdims = false);

/// Largest element (NaN if the slice holds one); the gradient is split evenly
/// among tied maxima, as torch.amax. Throws Error where a slice is empty.
Var max(const Var& x);
Var max(const Var& x, const std::vector<long>& axes, bool keepdims = false);
Var max(const Var& x, std::initializer_list<long> axes, bool keepdims = false);
Var max(const Var& x, long axis, bool keepdims = false);

/// log(sum(exp(x))), computed as m + log(sum(exp(x - m))) with m the maximum,
/// so 1e4 does not overflow. A slice of only -inf (or no elements) gives -inf
/// with gradient 0; a +inf entry gives +inf.
Var logsumexp(const Var& x);
Var logsumexp(const Var& x, const std::vector<long>& axes, bool keepdims = false);
Var logsumexp(const Var& x, std::initializer_list<long> axes, bool keepdims = false);
Var logsumexp(const Var& x, long axis, bool keepdims = false);

}  // namespace tg
