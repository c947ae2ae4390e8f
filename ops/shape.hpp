#pragma once
/// Shape ops: reshape, transpose, permute, squeeze, unsqueeze, broadcast_to,
/// concat, stack, slice, and the composites split and chunk.
///
/// Every result is a new contiguous tensor: a transpose or a slice copies its
/// values (with strided loops and memcpy of contiguous runs), so that the ops
/// after it never see a strided layout. An axis may be negative (counted from
/// the end); an axis out of range throws IndexError naming the op.

#include <cstddef>
#include <initializer_list>
#include <type_traits>
#include <vector>

#include "tapegrad/autodiff/var.hpp"

namespace tg {

/// The values of x in row-major order, laid out as `shape` (same number of
/// elements, else ShapeError naming both shapes).
Var reshape(const Var& x, const Shape& shape);
/// As above; one entry may be -1, inferred from the others (`reshape(x, {-1})` flattens).
Var reshape(const Var& x, const std::vector<long>& shape);
/// Braced lists of one integer type, such as `reshape(x, {2, -1})` or
/// `reshape(x, {rows, cols})` with size_t variables: a signed list takes the -1
/// form, an unsigned one is a Shape (where a -1 converted to SIZE_MAX is a size,
/// which the element count then rejects, not the -1 form).
/// (Mixing types, as in `{rows, -1}`, needs a cast to long.)
template <class I>
requires std::is_integral_v<I> Var reshape(const Var& x, std::initializer_list<I> shape) {
  if constexpr (std::is_unsigned_v<I>) {
    return reshape(x, Shape(shape.begin(), shape.end()));
  } else {
    std::vector<long> sizes;
    for (I s : shape) sizes.push_back(static_cast<long>(s));
    return reshape(x, sizes);
  }
}

/// x with dimensions dim0 and dim1 swapped.
Var transpose(const Var& x, long dim0, long dim1);
/// Output dimension d is input dimension dims[d]; dims must be a permutation
/// of the rank's dimensions (negative entries allowed).
Var permute(const Var& x, const std::vector<long>& dims);
/// reshape(permute(reshape(x, view), dims), shape) with one copy of the values
/// rather than three (as splitting attention heads needs); view and shape hold
/// x's number of elements, else ShapeError.
Var permute(const Var& x, const Shape& view, const std::vector<long>& dims, const Shape& shape);

/// Removes dimension `axis`, which must have size 1 (else ShapeError).
Var squeeze(const Var& x, long axis);
/// Removes every dimension of size 1 ([1, 3, 1] -> [3], [1, 1] -> []).
Var squeeze(const Var& x);
/// Inserts a dimension of size 1 at `axis`, in [-rank - 1, rank] (-1 appends).
Var unsqueeze(const Var& x, long axis);

/// x repeated along its size-1 and missing leading dimensions to `shape`
/// (NumPy rules). The gradient is summed back to x's shape.
Var broadcast_to(const Var& x, const Shape& shape);

/// xs joined along an existing `axis`. All must share rank, dtype and every
/// other dimension; members of size 0 along `axis` are allowed. One tape entry.
Var concat(const std::vector<Var>& xs, long axis);
/// xs (all of one shape and dtype) joined along a new dimension at `axis`,
/// in [-rank - 1, rank]. One tape entry.
Var stack(const std::vector<Var>& xs, long axis);

/// Python's x[start:end:step] along `axis`: negative start/end count from the
/// end, both are clamped to the dimension (so an empty range gives size 0),
/// and step must be >= 1.
Var slice(const Var& x, long axis, long start, long end, long step = 1);

/// Consecutive pieces of x along `axis` with the given sizes, which must sum
/// to that dimension. Built from slice.
std::vector<Var> split(const Var& x, const std::vector<std::size_t>& sizes, long axis);
/// x cut along `axis` into pieces of ceil(n / chunks), the last one smaller,
/// as torch.chunk (so possibly fewer than `chunks` pieces; a dimension of
/// size 0 gives `chunks` empty pieces, at most max_empty_chunks of them).
/// chunks must be in [1, 2^63 - 1]: beyond is a negative number converted.
/// Built from slice.
std::vector<Var> chunk(const Var& x, std::size_t chunks, long axis);
/// The most pieces chunk makes of a dimension of size 0.
inline constexpr std::size_t max_empty_chunks = std::size_t{1} << 16;

}  // namespace tg
