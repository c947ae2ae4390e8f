#include "tapegrad/ops/kernel.hpp"

#include <algorithm>
#include <string>

#include <fmt/format.h>

namespace tg::kernel {
namespace {

[[noreturn]] void throw_undefined(const char* op, const std::string& name, std::size_t input) {
  throw Error(fmt::format("{}: argument '{}' (input {}) is an undefined Var (default-constructed)", op_context(op),
                          name, input));
}

}  // namespace

void check_defined(const char* op, std::initializer_list<Arg> args, std::size_t first) {
  std::size_t input = first;
  for (const Arg& a : args) {
    if (!a.var.defined()) throw_undefined(op, a.name, input);
    ++input;
  }
}

void check_defined(const char* op, const std::vector<Var>& xs, const char* name) {
  for (std::size_t i = 0; i < xs.size(); ++i) {
    if (!xs[i].defined()) throw_undefined(op, fmt::format("{}[{}]", name, i), i);
  }
}

void check_same_dtype(const char* op, const Tensor& a, const Tensor& b) {
  if (a.dtype() != b.dtype()) {
    throw DTypeError(fmt::format("{}: operands have different dtypes, {} {} and {} {}", op_context(op),
                                 shape_str(a.shape()), dtype_name(a.dtype()), shape_str(b.shape()),
                                 dtype_name(b.dtype())));
  }
}

Shape broadcast_shapes(const char* op, const Shape& a, const Shape& b) {
  std::size_t rank = std::max(a.size(), b.size());
  Shape out(rank, 1);
  for (std::size_t i = 0; i < rank; ++i) {
    std::size_t da = i < rank - a.size() ? 1 : a[i - (rank - a.size())];
    std::size_t db = i < rank - b.size() ? 1 : b[i - (rank - b.size())];
    if (da != db && da != 1 && db != 1) {
      throw ShapeError(fmt::format("{}: shapes {} and {} do not broadcast (dimension {}: {} vs {})", op_context(op),
                                   shape_str(a), shape_str(b), i, da, db));
    }
    out[i] = da == 1 ? db : da;
  }
  checked_numel(out, sizeof(double), [&] { return op_context(op); });
  return out;
}

RowBroadcast row_broadcast(const Shape& a, const Shape& b) {
  auto numel = [](const Shape& s) {
    std::size_t n = 1;
    for (std::size_t d : s) n *= d;
    return n;
  };
  // Is `part`, without its leading 1s, the trailing dims of `full`?
  auto is_suffix = [](const Shape& part, const Shape& full) {
    std::size_t first = 0;
    while (first < part.size() && part[first] == 1) ++first;
    const std::size_t len = part.size() - first;
    return len <= full.size() &&
           std::equal(part.begin() + static_cast<long>(first), part.end(), full.end() - static_cast<long>(len));
  };
  RowBroadcast rb;
  const std::size_t na = numel(a), nb = numel(b);
  if (na == 0 || nb == 0) return rb;
  if (a == b) {
    rb = {true, true, true, 1, na};
  } else if (a.size() >= b.size() && is_suffix(b, a)) {
    rb = {true, true, false, na / nb, nb};
  } else if (b.size() >= a.size() && is_suffix(a, b)) {
    rb = {true, false, true, nb / na, na};
  }
  return rb;
}

std::size_t normalize_axis(const char* op, long axis, std::size_t rank) {
  long r = static_cast<long>(rank);
  if (axis < -r || axis >= r) {
    throw IndexError(fmt::format("{}: axis {} is out of range for a tensor of rank {} (valid: {} to {})",
                                 op_context(op), axis, rank, -r, r - 1));
  }
  return static_cast<std::size_t>(axis < 0 ? axis + r : axis);
}

}  // namespace tg::kernel
