// Shapes whose element count or byte size does not fit in 64 bits are errors
// that name the op, never silently wrapped sizes.
#include <doctest/doctest.h>

#include <string>

#include "ops/linalg.hpp"
#include "ops/reduce.hpp"
#include "ops/shape.hpp"

using namespace tg;

namespace {

constexpr std::size_t k2_40 = std::size_t{1} << 40;

template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const ShapeError& e) {
    return e.what();
  }
  return "no ShapeError";
}

}  // namespace

TEST_CASE("tensor factories reject shapes whose element count or byte size overflows") {
  std::string msg = error_of([] { Tensor::zeros({k2_40, k2_40}); });
  CHECK(msg.find("shape [1099511627776, 1099511627776] has more elements than a signed 64-bit size holds") != std::string::npos);
  // 2^62 elements fit, but not 2^62 * 4 bytes.
  msg = error_of([] { Tensor::ones({std::size_t{1} << 31, std::size_t{1} << 31}); });
  CHECK(msg.find("(4 bytes each)") != std::string::npos);
  CHECK_THROWS_AS(Tensor::full({k2_40, k2_40, 2}, 1.0, DType::f64), ShapeError);
  CHECK_THROWS_AS(Tensor::uniform({k2_40, k2_40}, 0, 1, 1), ShapeError);
  // A zero makes the count 0, but the other sizes still make strides, which are signed.
  CHECK(Tensor::zeros({std::size_t{1} << 20, std::size_t{1} << 20, 0}).size() == 0);
  CHECK_THROWS_AS(Tensor::zeros({0, k2_40, k2_40}), ShapeError);
  CHECK_THROWS_AS(Tensor::zeros({k2_40, k2_40, 0}), ShapeError);
  // Strides count elements, not bytes: 2^62 elements' strides fit even where their bytes would not.
  CHECK(Tensor::zeros({0, std::size_t{1} << 62}, DType::f64).size() == 0);
  CHECK(checked_numel({3, 4}, 8, "test") == 12);
}

TEST_CASE("ops whose result can outgrow their inputs reject an overflowing result shape") {
  Var empty_rows(Tensor::zeros({k2_40, 0}));
  Var empty_cols(Tensor::zeros({0, k2_40}));
  std::string msg = error_of([&] { matmul(empty_rows, empty_cols); });
  CHECK(msg.find("matmul") != std::string::npos);
  CHECK(msg.find("more elements than a signed 64-bit size holds") != std::string::npos);


  // [2^32, 2^32] wraps to 0 elements: it must not pass for the empty tensor's reshape.
  Var nothing(Tensor::zeros({0}));
  msg = error_of([&] { reshape(nothing, Shape{std::size_t{1} << 32, std::size_t{1} << 32}); });
  CHECK(msg.find("reshape") != std::string::npos);
  CHECK_THROWS_AS(broadcast_to(Var(Tensor::zeros({1})), Shape{k2_40, k2_40}), ShapeError);
}
