#include "tapegrad/autodiff/tensor.hpp"

#include <cmath>
#include <cstddef>
#include <limits>
#include <random>

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace tg {

const char* dtype_name(DType dtype) { return dtype == DType::f32 ? "float32" : "float64"; }

std::string shape_str(const Shape& shape) { return fmt::format("[{}]", fmt::join(shape, ", ")); }

void Tensor::throw_undefined(const char* what) {
  throw Error(fmt::format("Tensor::{}: the tensor is undefined (default-constructed)", what));
}

namespace {

// The element count of `shape` in *count, and whether the count and its bytes fit.
// `overflow`: the count itself does not fit (else only the bytes do not).
bool numel_fits(const Shape& shape, std::size_t element_size, std::size_t* count, bool* overflow) {
  // Strides are signed: the non-zero sizes must multiply below 2^63 even when a
  // zero elsewhere leaves no elements ([0, 2^40, 2^40] would overflow them).
  constexpr std::size_t limit = static_cast<std::size_t>(std::numeric_limits<std::ptrdiff_t>::max());
  std::size_t n = 1;
  bool empty = false;
  *overflow = false;
  for (std::size_t d : shape) {
    empty = empty || d == 0;
    if (d != 0) *overflow = *overflow || __builtin_mul_overflow(n, d, &n) || n > limit;
  }
  *count = empty ? 0 : n;
  // Bytes matter only where there are elements to store.
  std::size_t bytes = 0;
  return !(*overflow || (!empty && (__builtin_mul_overflow(n, element_size, &bytes) || bytes > limit)));
}

}  // namespace

std::size_t checked_numel(const Shape& shape, std::size_t element_size, std::string_view where) {
  std::size_t n = 0;
  bool overflow = false;
  if (!numel_fits(shape, element_size, &n, &overflow)) {
    throw ShapeError(fmt::format("{}: shape {} has more elements{} than a signed 64-bit size holds", where,
                                 shape_str(shape), overflow ? "" : fmt::format(" ({} bytes each)", element_size)));
  }
  return n;
}

std::size_t checked_numel(const Shape& shape, std::size_t element_size, const std::function<std::string()>& where) {
  std::size_t n = 0;
  bool overflow = false;
  if (numel_fits(shape, element_size, &n, &overflow)) return n;
  return checked_numel(shape, element_size, where());
}

Tensor Tensor::empty(const Shape& shape, DType dtype) {
  checked_numel(shape, dtype_size(dtype), "Tensor factory");
  return dispatch(dtype, [&](auto zero) -> Tensor {
    using T = decltype(zero);
    return Tensor(Array<T>::from_shape(shape));
  });
}

Tensor Tensor::zeros(const Shape& shape, DType dtype) { return full(shape, 0.0, dtype); }
Tensor Tensor::ones(const Shape& shape, DType dtype) { return full(shape, 1.0, dtype); }

Tensor Tensor::full(const Shape& shape, double value, DType dtype) {
  Tensor t = empty(shape, dtype);
  t.fill(value);
  return t;
}

Tensor Tensor::scalar(double value, DType dtype) { return full(Shape{}, value, dtype); }

Tensor Tensor::from_vector(const std::vector<double>& values, const Shape& shape, DType dtype) {
  Tensor t = empty(shape, dtype);
  if (t.size() != values.size()) {
    throw ShapeError(fmt::format("Tensor::from_vector: {} values do not fill shape {} ({} elements)", values.size(),
                                 shape_str(shape), t.size()));
  }
  dispatch(dtype, [&](auto zero) {
    using T = decltype(zero);
    auto& a = t.array<T>();
    for (std::size_t i = 0; i < values.size(); ++i) a.flat(i) = static_cast<T>(values[i]);
  });
  return t;
}

Tensor Tensor::uniform(const Shape& shape, double low, double high, std::uint64_t seed, DType dtype) {
  Tensor t = empty(shape, dtype);
  std::mt19937_64 gen(seed);
  std::uniform_real_distribution<double> dist(low, high);
  dispatch(dtype, [&](auto zero) {
    using T = decltype(zero);
    for (auto& x : t.array<T>()) x = static_cast<T>(dist(gen));
  });
  return t;
}

Tensor Tensor::normal(const Shape& shape, double mean, double stddev, std::uint64_t seed, DType dtype) {
  Tensor t = empty(shape, dtype);
  std::mt19937_64 gen(seed);
  std::normal_distribution<double> dist(mean, stddev);
  dispatch(dtype, [&](auto zero) {
    using T = decltype(zero);
    for (auto& x : t.array<T>()) x = static_cast<T>(dist(gen));
  });
  return t;
}

std::size_t Tensor::nbytes() const { return defined() ? size() * dtype_size(dtype()) : 0; }

double Tensor::item() const {
  if (size() != 1) {
    throw ShapeError(
        fmt::format("Tensor::item: needs exactly one element, the tensor has shape {}", shape_str(shape())));
  }
  return at(0);
}

double Tensor::at(std::size_t flat_index) const {
  if (flat_index >= size()) {
    throw IndexError(fmt::format("Tensor::at: flat index {} is out of range for shape {} ({} elements)", flat_index,
                                 defined() ? shape_str(shape()) : "undefined", size()));
  }
  return dispatch(dtype(), [&](auto zero) -> double {
    using T = decltype(zero);
    return static_cast<double>(array<T>().flat(flat_index));
  });
}

void Tensor::set(std::size_t flat_index, double value) {
  if (flat_index >= size()) {
    throw IndexError(fmt::format("Tensor::set: flat index {} is out of range for shape {} ({} elements)", flat_index,
                                 defined() ? shape_str(shape()) : "undefined", size()));
  }
  dispatch(dtype(), [&](auto zero) {
    using T = decltype(zero);
    array<T>().flat(flat_index) = static_cast<T>(value);
  });
}

std::vector<double> Tensor::to_vector() const {
  std::vector<double> out(size());
  if (!defined()) return out;
  dispatch(dtype(), [&](auto zero) {
    using T = decltype(zero);
    const auto& a = array<T>();
    for (std::size_t i = 0; i < out.size(); ++i) out[i] = static_cast<double>(a.flat(i));
  });
  return out;
}

Tensor Tensor::to(DType target) const {
  return dispatch(dtype(), [&](auto from_zero) -> Tensor {
    using From = decltype(from_zero);
    return dispatch(target, [&](auto to_zero) -> Tensor {
      using To = decltype(to_zero);
      Array<To> out = xt::cast<To>(array<From>());
      return Tensor(std::move(out));
    });
  });
}

void Tensor::fill(double value) {
  dispatch(dtype(), [&](auto zero) {
    using T = decltype(zero);
    array<T>().fill(static_cast<T>(value));
  });
}

void Tensor::add_(const Tensor& other) {
  if (dtype() != other.dtype() || shape() != other.shape()) {
    throw ShapeError(fmt::format("Tensor::add_: cannot add {} {} into {} {}", shape_str(other.shape()),
                                 dtype_name(other.dtype()), shape_str(shape()), dtype_name(dtype())));
  }
  dispatch(dtype(), [&](auto zero) {
    using T = decltype(zero);
    T* dst = array<T>().data();
    const T* src = other.array<T>().data();
    std::size_t n = size();
    for (std::size_t i = 0; i < n; ++i) dst[i] += src[i];
  });
}

void Tensor::reshape(const Shape& shape) {
  std::size_t n = 1;
  for (std::size_t d : shape) n *= d;
  if (n != size()) {
    throw ShapeError(
        fmt::format("Tensor::reshape: cannot lay out {} as {}", shape_str(this->shape()), shape_str(shape)));
  }
  dispatch(dtype(), [&](auto zero) {
    using T = decltype(zero);
    array<T>().reshape(shape);
  });
}

std::string Tensor::str() const {
  if (!defined()) return "Tensor(undefined)";
  std::vector<double> v = to_vector();
  return fmt::format("Tensor({}, {}, [{}])", shape_str(shape()), dtype_name(dtype()), fmt::join(v, ", "));
}

bool all_finite(const Tensor& t) {
  if (!t.defined()) return true;
  return dispatch(t.dtype(), [&](auto zero) {
    using T = decltype(zero);
    for (T x : t.array<T>())
      if (!std::isfinite(x)) return false;
    return true;
  });
}

}  // namespace tg
