#pragma once
/// Dense row-major tensor with a runtime dtype (float32 or float64).
///
/// Models and user code handle one non-template type; kernels are written once
/// as templates over the element type and picked once per op with dispatch().

#include <cstddef>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <string>
#include <string_view>
#include <type_traits>
#include <variant>
#include <vector>

#include <xtensor/xarray.hpp>

#include "tapegrad/autodiff/pool.hpp"
#include "tapegrad/base/error.hpp"

namespace tg {

enum class DType : std::uint8_t { f32, f64 };

/// Storage of a tensor of element type T: an xtensor array over the pool.
template <class T>
using Array = xt::xarray<T, xt::layout_type::row_major, PoolAllocator<T>>;
/// A shape: sizes of each dimension, outermost first.
using Shape = typename Array<float>::shape_type;
/// Integer indices (token ids, targets, gather positions).
using Indices = xt::xarray<std::int64_t>;
/// Boolean masks for where() and masked_fill().
using Mask = xt::xarray<bool>;

template <class T>
constexpr DType dtype_of() {
  static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>, "tapegrad tensors are float or double");
  return std::is_same_v<T, float> ? DType::f32 : DType::f64;
}

const char* dtype_name(DType dtype);

/// Calls f(T{}) with T the C++ element type of dtype.
/// Usage: dispatch(dt, [&](auto zero) { using T = decltype(zero); ... });
template <class F>
decltype(auto) dispatch(DType dtype, F&& f) {
  if (dtype == DType::f32) return f(float{});
  return f(double{});
}

class Tensor {
 public:
  /// An undefined tensor (no dtype, no storage); defined() is false.
  Tensor() = default;
  // Moves the array in place: results of ops pass through here once each.
  template <class T>
  Tensor(Array<T>&& array) : data_(std::in_place_type<Array<T>>, std::move(array)) {}
  template <class T>
  Tensor(const Array<T>& array) : data_(std::in_place_type<Array<T>>, array) {}

  static Tensor empty(const Shape& shape, DType dtype = DType::f32);
  static Tensor zeros(const Shape& shape, DType dtype = DType::f32);
  static Tensor ones(const Shape& shape, DType dtype = DType::f32);
  static Tensor full(const Shape& shape, double value, DType dtype = DType::f32);
  static Tensor scalar(double value, DType dtype = DType::f32);
  /// Copies row-major values into a tensor of the given shape; sizes must agree.
  static Tensor from_vector(const std::vector<double>& values, const Shape& shape, DType dtype = DType::f32);
  /// Uniform values in [low, high) from a seeded generator (reproducible).
  static Tensor uniform(const Shape& shape, double low, double high, std::uint64_t seed, DType dtype = DType::f32);
  /// Normal values with the given mean and standard deviation (reproducible).
  static Tensor normal(const Shape& shape, double mean, double stddev, std::uint64_t seed, DType dtype = DType::f32);

  bool defined() const { return data_.index() != 0; }
  /// Drops the storage: the tensor becomes undefined.
  void reset() { data_.emplace<std::monostate>(); }
  // Inline: every op asks these several times.
  DType dtype() const {
    if (data_.index() == 0) throw_undefined("dtype");
    return data_.index() == 1 ? DType::f32 : DType::f64;
  }
  const Shape& shape() const {
    if (data_.index() == 1) return std::get_if<1>(&data_)->shape();
    if (data_.index() == 2) return std::get_if<2>(&data_)->shape();
    throw_undefined("shape");
  }
  std::size_t dim() const { return shape().size(); }
  std::size_t size() const {
    if (data_.index() == 1) return std::get_if<1>(&data_)->size();
    if (data_.index() == 2) return std::get_if<2>(&data_)->size();
    return 0;
  }
  std::size_t nbytes() const;

  template <class T>
  Array<T>& array() {
    return std::get<Array<T>>(data_);
  }
  template <class T>
  const Array<T>& array() const {
    return std::get<Array<T>>(data_);
  }

  /// The value of a one-element tensor.
  double item() const;
  /// Element at a row-major flat index (slow; for tests and tools).
  double at(std::size_t flat_index) const;
  void set(std::size_t flat_index, double value);
  std::vector<double> to_vector() const;

  Tensor to(DType dtype) const;
  /// Sets every element to zero, keeping shape and storage.
  void fill(double value);
  /// this += other, with other of the same shape and dtype.
  void add_(const Tensor& other);
  /// The same elements, relabelled as `shape` (row-major, nothing moves); the
  /// element counts must agree (ShapeError naming both shapes otherwise).
  void reshape(const Shape& shape);

  std::string str() const;

 private:
  [[noreturn]] static void throw_undefined(const char* what);

  std::variant<std::monostate, Array<float>, Array<double>> data_;
};

/// Number of elements of `shape`. Throws ShapeError, naming `where` and the
/// shape, when the count, or its size in bytes at `element_size` bytes per
/// element, does not fit in a signed 64-bit integer (xtensor's strides are
/// signed). A shape with a 0 has 0 elements, but its other sizes must still
/// multiply below 2^63, since strides are computed from them. Every
/// factory and every op whose result can outgrow its inputs calls it before
/// allocating, so a wrapped size never reaches memory.
std::size_t checked_numel(const Shape& shape, std::size_t element_size, std::string_view where);
/// The same, with the context made only when the check fails (an op's context
/// is a formatted string: made for every call, it showed in the tiny step's profile).
std::size_t checked_numel(const Shape& shape, std::size_t element_size, const std::function<std::string()>& where);
/// Bytes per element of `dtype`.
inline std::size_t dtype_size(DType dtype) { return dtype == DType::f32 ? 4 : 8; }

/// "[2, 3]": the form shapes take in every error message.
std::string shape_str(const Shape& shape);
bool all_finite(const Tensor& t);

}  // namespace tg
