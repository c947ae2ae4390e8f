// Shapes whose element count or byte size does not fit in 64 bits, and size
// arguments that would wrap or divide by zero, are errors that name the op,
// never silently wrapped sizes or a crash.
#include <doctest/doctest.h>

#include <climits>
#include <cstdint>
#include <string>
#include <vector>

#include "tapegrad/ops/index.hpp"
#include "tapegrad/ops/linalg.hpp"
#include "tapegrad/ops/reduce.hpp"
#include "tapegrad/ops/shape.hpp"
#include "tapegrad/ops/softmax.hpp"

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
  CHECK(msg.find("shape [1099511627776, 1099511627776] has more elements than a signed 64-bit size holds") !=
        std::string::npos);
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

TEST_CASE("chunk takes any chunks in [1, 2^63 - 1] without dividing by zero or wrapping") {
  Var x(Tensor::zeros({5, 2}));
  // Was ceil(n / chunks) as (n + chunks - 1) / chunks: SIZE_MAX wrapped it to 0, then n / 0 (SIGFPE).
  CHECK_THROWS_WITH_AS(chunk(x, SIZE_MAX, 0),
                       doctest::Contains("op 'chunk': chunks must be in [1, 2^63 - 1], got 18446744073709551615"),
                       Error);
  CHECK_THROWS_WITH_AS(chunk(x, static_cast<std::size_t>(-2), 0), doctest::Contains("op 'chunk'"), Error);
  CHECK_THROWS_WITH_AS(chunk(x, 0, 0), doctest::Contains("op 'chunk': chunks must be in [1, 2^63 - 1], got 0"), Error);
  // The largest count is valid: pieces of one row, as torch.chunk.
  std::vector<Var> pieces = chunk(x, static_cast<std::size_t>(PTRDIFF_MAX), 0);
  CHECK(pieces.size() == 5);
  for (const Var& p : pieces) CHECK(p.shape() == Shape{1, 2});
  CHECK(chunk(x, std::size_t{1} << 62, 1).size() == 2);
  // An empty dimension gives `chunks` empty pieces, as many as max_empty_chunks and no more.
  Var empty(Tensor::zeros({0, 2}));
  CHECK(chunk(empty, max_empty_chunks, 0).size() == max_empty_chunks);
  CHECK_THROWS_WITH_AS(chunk(empty, max_empty_chunks + 1, 0),
                       doctest::Contains("op 'chunk': chunks 65537 would make that many empty pieces of dimension "
                                         "0 of [0, 2] (at most 65536)"),
                       Error);
  CHECK_THROWS_AS(chunk(empty, PTRDIFF_MAX, 0), Error);
}

TEST_CASE("split rejects sizes whose sum wraps past 2^64") {
  Var x(Tensor::zeros({3, 1}));
  // SIZE_MAX + 2 wraps to 1, which is the dimension's size: it used to pass and slice garbage.
  CHECK_THROWS_WITH_AS(split(x, {SIZE_MAX, 2}, 1),
                       doctest::Contains("op 'split': sizes [18446744073709551615, 2] sum to more than 2^64 - 1 but "
                                         "dimension 1 of [3, 1] has size 1"),
                       ShapeError);
  CHECK_THROWS_AS(split(x, {std::size_t{1} << 63, std::size_t{1} << 63, 3}, 0), ShapeError);
  CHECK_THROWS_WITH_AS(split(x, {2, 2}, 0), doctest::Contains("sum to 4 but dimension 0 of [3, 1] has size 3"),
                       ShapeError);
  CHECK(split(x, {1, 0, 2}, 0).size() == 3);
}

TEST_CASE("slice takes any step >= 1 without overflowing its count or stride") {
  Var x(Tensor::from_vector({0, 1, 2, 3, 4, 5}, {6}, DType::f64));
  CHECK_THROWS_WITH_AS(slice(x, 0, 0, 6, 0), doctest::Contains("op 'slice': step must be >= 1, got 0"), Error);
  CHECK_THROWS_AS(slice(x, 0, 0, 6, LONG_MIN), Error);
  // (last - first + step - 1) overflowed long for a step near LONG_MAX, and so did stride * step.
  for (long step : {LONG_MAX, LONG_MAX - 1, long{1} << 62, 7L, 6L}) {
    CAPTURE(step);
    Var y = slice(x, 0, 1, 6, step);
    CHECK(y.value().to_vector() == std::vector<double>{1});
  }
  CHECK(slice(x, 0, 0, 6, 5).value().to_vector() == std::vector<double>{0, 5});
  CHECK(slice(x, 0, LONG_MIN, LONG_MAX, LONG_MAX).value().to_vector() == std::vector<double>{0});
  CHECK(slice(x, 0, LONG_MAX, LONG_MIN, 1).size() == 0);
  // The gradient goes back through the same window.
  Var leaf(Tensor::from_vector({0, 1, 2, 3}, {2, 2}, DType::f64), true);
  sum(slice(leaf, 1, 1, 2, LONG_MAX)).backward();
  CHECK(leaf.grad().to_vector() == std::vector<double>{0, 1, 0, 1});
}

TEST_CASE("reshape rejects sizes whose product wraps, in every form") {
  Var x(Tensor::zeros({2, 3}));
  Var nothing(Tensor::zeros({0}));
  // A size_t list is a shape: SIZE_MAX (a -1 converted) used to become the -1 form and infer a size.
  CHECK_THROWS_WITH_AS(reshape(x, {SIZE_MAX, std::size_t{2}}),
                       doctest::Contains("op 'reshape': shape [18446744073709551615, 2] has more elements"),
                       ShapeError);
  CHECK(reshape(x, {std::size_t{3}, std::size_t{2}}).shape() == Shape{3, 2});
  // The -1 form: the other sizes' product wraps. 6 * 3074457345618258603 = 2^64 + 2 wrapped to 2,
  // which divides 6 and inferred a 3 (the result's own check then named a shape nobody asked for).
  CHECK_THROWS_WITH_AS(reshape(x, {-1L, 6L, 3074457345618258603L}),
                       doctest::Contains("op 'reshape': cannot reshape [2, 3] (6 elements) into [-1, 6, "
                                         "3074457345618258603]: no size for the -1 fits"),
                       ShapeError);
  CHECK_THROWS_WITH_AS(reshape(x, {-1L, long{1} << 62, 4L}), doctest::Contains("no size for the -1 fits"), ShapeError);
  CHECK_THROWS_WITH_AS(reshape(nothing, {-1L, long{1} << 32, long{1} << 32}),
                       doctest::Contains("op 'reshape': cannot reshape [0] (0 elements) into [-1, 4294967296, "
                                         "4294967296]: no size for the -1 fits"),
                       ShapeError);
  CHECK_THROWS_AS(reshape(nothing, {-1L, long{1} << 40, long{1} << 40, 0L}), ShapeError);
  CHECK_THROWS_AS(reshape(nothing, Shape{0, k2_40, k2_40}), ShapeError);
  CHECK_THROWS_WITH_AS(reshape(x, {-1, -1}), doctest::Contains("at most one -1"), ShapeError);
  CHECK(reshape(x, {-1, 2}).shape() == Shape{3, 2});
  CHECK(reshape(nothing, {-1, 5}).shape() == Shape{0, 5});
}

TEST_CASE("concat and stack name themselves when their result's shape overflows") {
  // Each member is legal (no elements, strides below 2^63); joined, the sizes wrap or pass 2^63.
  Var wide(Tensor::zeros({0, std::size_t{1} << 62}));
  std::string msg = error_of([&] { concat({wide, wide, wide, wide}, 1); });
  CHECK(msg.find("op 'concat': shapes [0, 4611686018427387904], [0, 4611686018427387904], [0, 4611686018427387904], "
                 "[0, 4611686018427387904] sum past 2^64 - 1 along axis 1") != std::string::npos);
  msg = error_of([&] { concat({wide, wide}, 1); });
  CHECK(msg.find("op 'concat'") != std::string::npos);
  msg = error_of([&] { stack({wide, wide, wide, wide}, 0); });
  CHECK(msg.find("op 'stack'") != std::string::npos);
  CHECK(concat({wide, wide}, 0).shape() == Shape{0, std::size_t{1} << 62});
}

TEST_CASE("embedding rejects a padding_idx outside [0, V)") {
  Var weight(Tensor::zeros({4, 2}));
  Indices ids = {0, 3};
  CHECK_THROWS_WITH_AS(embedding(weight, ids, 4),
                       doctest::Contains("op 'embedding': padding_idx 4 is out of range for V = 4"), IndexError);
  CHECK_THROWS_WITH_AS(embedding(weight, ids, -1), doctest::Contains("padding_idx -1 is out of range"), IndexError);
  CHECK(embedding(weight, ids, 3).shape() == Shape{2, 2});
}

TEST_CASE("softmax over an empty axis does not walk the other dimensions' rows") {
  // [0, 2^62] along axis 0 is 2^62 rows of no elements: it used to visit each of them (a hang).
  for (long axis : {0L, -2L}) {
    Var x(Tensor::zeros({0, std::size_t{1} << 62}, DType::f64), true);
    Var y = softmax(x, axis);
    CHECK(y.shape() == x.shape());
    CHECK(log_softmax(x, axis).shape() == x.shape());
    sum(y).backward();
    CHECK(x.grad().shape() == x.shape());
  }
}
