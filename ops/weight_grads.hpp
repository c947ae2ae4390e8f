#pragma once
/// Weight gradients gathered over a backward pass and done as few products.
///
/// A recurrent layer multiplies every step's batch by the same weight, so the
/// backward adds dW += dY_t^T X_t once per step: products with only a batch's rows
/// (32-128) as their inner size, each of which reads and writes all of dW. A dW of
/// several MB no longer stays in L2 from one step's product to the next, so a linear-
/// type op's backward (linear, linear_pair, addmm with its weight transposed) leaves
/// dW to the end of the pass: it keeps dY_t and X_t, and the pass's end stacks them
/// and adds [dY_1; ...]^T [X_1; ...] into the weight's gradient with one gemm (about
/// 1% of a medium step: docs/performance.md, "Packed weights in the backward, and
/// weight gradients in one product"). What is kept is capped at 2 MB: past that, the
/// uses gathered so far are added at once, as at the end of the pass.
///
/// Only for leaf weights (nothing downstream reads their gradient before the pass
/// ends) of at least 256K elements (smaller ones stay in L2 between the steps'
/// products, and gathering them did not pay), and products of at most 128 rows;
/// larger products already run well.

#include <cstddef>
#include <memory>

#include "tapegrad/autodiff/tape.hpp"

namespace tg {

/// Which weight gradients are gathered over the pass:
///   automatic: those described above (the default);
///   always:    every leaf weight's, whatever its size (tests compare the two paths);
///   never:     none: each op adds its weight's gradient at once.
enum class WeightGradBatching { automatic, always, never };
void set_weight_grad_batching(WeightGradBatching policy);
WeightGradBatching weight_grad_batching();

/// In the backward of an op y = x w^T + ...: leaves dw += dy^T x for weight input
/// `iw` (a leaf [out, in]) and its x input `ix` ([rows, in] rows) to the end of the
/// pass, and returns true; returns false when it does not (the caller then computes
/// it now). `dy` [rows, out] is the op's output gradient, which the op gives up or
/// shares between its weights.
bool defer_weight_grad(BackwardContext& c, const char* op, std::size_t iw, std::size_t ix, std::size_t rows,
                       std::size_t out, std::size_t in, const std::shared_ptr<const Tensor>& dy);

/// Whether defer_weight_grad would take weight input `iw` with `rows` rows, so that
/// an op can tell before giving up its output gradient.
bool would_defer_weight_grad(const BackwardContext& c, std::size_t iw, std::size_t rows);

}  // namespace tg
