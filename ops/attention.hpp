#pragma once
/// Fused attention-score ops: the elementwise part of an attention step in one
/// pass, instead of a broadcast add, a tanh and a matrix-vector product that
/// each write a [B, S, A] tensor. The projections (GEMMs) stay outside, in
/// matmul and linear.

#include <cstddef>

#include "tapegrad/autodiff/var.hpp"
#include "tapegrad/base/generator.hpp"

namespace tg {

/// Additive (Bahdanau) attention scores from the projected keys [B, S, A], the
/// projected query [B, A] (bias included) and the vector v [A]:
///   scores[b, s] = sum_a v[a] tanh(keys[b, s, a] + query[b, a])        [B, S]
/// The tanh values are kept for the backward only when a gradient is needed.
/// Throws ShapeError naming the shapes unless they fit, DTypeError unless the
/// three share a dtype.
Var additive_scores(const Var& keys, const Var& query, const Var& v);

/// What attend_heads does to the scores of every head besides the product.
struct HeadAttentionOptions {
  std::size_t heads = 1;
  /// scores = (q / scale_divisor) k^T: sqrt(d) for scaled dot-product attention.
  double scale_divisor = 1;
  /// Pairs that may not attend (true), broadcastable to [B * heads, L, S]: weight and gradient
  /// exactly 0; a row with nothing left gives weights 0. Empty: none.
  Mask blocked{};
  /// Finite values added to the scores, broadcastable to [B * heads, L, S], of the scores'
  /// dtype; a constant (no gradient). Undefined: none.
  Tensor added{};
  /// Dropout on the weights while training (inverted, as dropout()), drawn from `generator`
  /// (null: the thread's default generator).
  double dropout = 0;
  bool training = false;
  Generator* generator = nullptr;
};

/// Multi-head scaled dot-product attention as one op, with the heads side by side in the
/// columns of the query and of the result (no copies to split or merge them):
///   query [B, L, heads * d], keys [B * heads, S, d], values [B * heads, S, dv], row n = b * heads + h
///   holding head h of entry b (MultiHeadAttention's layout, as torch's);
///   weights[n] = dropout(softmax(q_n keys[n]^T / scale_divisor + added, blocked pairs -inf))   [L, S]
///   result[b, :, h dv : (h + 1) dv] = weights[n] values[n]                                   [B, L, heads * dv]
/// The same numbers as splitting the heads, matmul, masked_fill, softmax, dropout, matmul and
/// merging (the same dropout draws too), but it keeps only the softmax's weights
/// [B * heads, L, S] (and the dropout mask) for the backward, not every intermediate.
/// Throws ShapeError naming the shapes unless they fit, DTypeError unless the inputs (and
/// `added`) share a dtype, Error for a dropout outside [0, 1].
Var attend_heads(const Var& query, const Var& keys, const Var& values, const HeadAttentionOptions& options);

/// Self-attention from one projection: qkv [B, L, 3 * heads * d] holds the queries, keys and
/// values side by side, each with its heads side by side (x in_proj_weight^T + in_proj_bias, torch's
/// packed projection); as attend_heads on its three column blocks, [B, L, heads * d]. The keys and
/// values are read in place: no split copies of them, and one gradient of qkv's shape.
/// Throws ShapeError unless qkv's last dimension is a multiple of 3 * heads.
Var self_attend_heads(const Var& qkv, const HeadAttentionOptions& options);

}  // namespace tg
