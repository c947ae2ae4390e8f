#pragma once
/// Indexing ops: embedding lookup, gather, where and masked_fill.
///
/// Integer indices are `Indices` (int64) and masks are `Mask` (bool), both
/// plain xtensor arrays: they carry no gradient. An index outside its range
/// throws IndexError naming the index, its position and the size it indexes.

#include <cstdint>
#include <optional>

#include "tapegrad/autodiff/var.hpp"

namespace tg {

/// Rows of `weight` [V, E] picked by `ids` (any shape, values in [0, V)):
/// the result has shape [...ids.shape, E]. The gradient of a row picked
/// several times is the sum of the gradients of its copies. Positions whose id
/// is `padding_idx` (if given, in [0, V)) pass no gradient to that row, as
/// torch.nn.functional.embedding's padding_idx.
Var embedding(const Var& weight, const Indices& ids, std::optional<std::int64_t> padding_idx = std::nullopt);

/// torch.gather: y[i] = x[i with i[axis] replaced by index[i]]. `index` has
/// x's rank, index.shape[d] <= x.shape[d] for d != axis, any size along axis,
/// and values in [0, x.shape[axis]); y has index's shape. The gradient is
/// scatter-added back (repeated indices accumulate).
Var gather(const Var& x, long axis, const Indices& index);

/// a where mask is true, b elsewhere; mask, a and b broadcast together
/// (NumPy rules) and a and b share a dtype. Call it as tg::where: Mask is an
/// xtensor type, so an unqualified where(mask, a, b) also finds xt::where by
/// argument-dependent lookup, which wins for non-const Vars.
Var where(const Mask& mask, const Var& a, const Var& b);

/// x with `value` where mask is true. The mask broadcasts to x's shape (not
/// the other way round). value may be -inf (the usual way to mask logits
/// before softmax, which then gives those entries probability and gradient
/// exactly 0); anomaly mode allows the inf this produces.
Var masked_fill(const Var& x, const Mask& mask, double value);

}  // namespace tg
