#pragma once
/// Fused attention-score ops: the elementwise part of an attention step in one
/// pass, instead of a broadcast add, a tanh and a matrix-vector product that
/// each write a [B, S, A] tensor. The projections (GEMMs) stay outside, in
/// matmul and linear.

#include "tapegrad/autodiff/var.hpp"

namespace tg {

/// Additive (Bahdanau) attention scores from the projected keys [B, S, A], the
/// projected query [B, A] (bias included) and the vector v [A]:
///   scores[b, s] = sum_a v[a] tanh(keys[b, s, a] + query[b, a])        [B, S]
/// The tanh values are kept for the backward only when a gradient is needed.
/// Throws ShapeError naming the shapes unless they fit, DTypeError unless the
/// three share a dtype.
Var additive_scores(const Var& keys, const Var& query, const Var& v);

}  // namespace tg
