#include <numeric>
#include <tuple>

#include "check.hpp"
#include "tapegrad.hpp"
#include "tapegrad/ops/elementwise.hpp"
#include "tapegrad/ops/shape.hpp"

using namespace tg;
using tg::test::expect_gradcheck;
using tg::test::randn;

namespace {

// 0, 1, 2, ... in `shape`.
Tensor iota(const Shape& shape, DType dtype = DType::f64) {
  Tensor t = Tensor::zeros(shape, dtype);
  for (std::size_t i = 0; i < t.size(); ++i) t.set(i, static_cast<double>(i));
  return t;
}

std::vector<double> values(const Var& v) { return v.value().to_vector(); }

// Row-major flat index of a multi-index.
std::size_t flat(const std::vector<std::size_t>& index, const Shape& shape) {
  std::size_t f = 0;
  for (std::size_t d = 0; d < shape.size(); ++d) f = f * shape[d] + index[d];
  return f;
}

std::vector<std::size_t> unravel(std::size_t f, const Shape& shape) {
  std::vector<std::size_t> index(shape.size());
  for (std::size_t d = shape.size(); d-- > 0;) {
    index[d] = f % shape[d];
    f /= shape[d];
  }
  return index;
}

// Shape `base` with dimension `axis` (may be negative) set to n.
Shape with_dim(Shape base, long axis, std::size_t n) {
  base[static_cast<std::size_t>(axis < 0 ? axis + static_cast<long>(base.size()) : axis)] = n;
  return base;
}

}  // namespace

TEST_CASE("reshape, squeeze and unsqueeze pass gradcheck") {
  Shape rank0;
  expect_gradcheck([](const std::vector<Var>& v) { return reshape(v[0], Shape{3, 2}); }, {randn({2, 3}, 1)});
  expect_gradcheck([](const std::vector<Var>& v) { return reshape(v[0], {-1}); }, {randn({2, 3}, 2)});
  expect_gradcheck([](const std::vector<Var>& v) { return reshape(v[0], {2, -1, 2}); }, {randn({1, 4, 2}, 3)});
  expect_gradcheck([](const std::vector<Var>& v) { return reshape(v[0], {1, 1}); }, {randn(rank0, 4)});
  expect_gradcheck([](const std::vector<Var>& v) { return reshape(v[0], Shape{}); }, {randn({1, 1, 1}, 5)});
  expect_gradcheck([](const std::vector<Var>& v) { return reshape(v[0], {2, 0, 7}); }, {randn({3, 0}, 5)});

  expect_gradcheck([](const std::vector<Var>& v) { return squeeze(v[0], 0); }, {randn({1, 3, 1}, 6)});
  expect_gradcheck([](const std::vector<Var>& v) { return squeeze(v[0], -1); }, {randn({1, 3, 1}, 7)});
  expect_gradcheck([](const std::vector<Var>& v) { return squeeze(v[0]); }, {randn({1, 3, 1, 2}, 8)});
  expect_gradcheck([](const std::vector<Var>& v) { return squeeze(v[0]); }, {randn({1, 1}, 9)});
  for (long axis = -3; axis <= 2; ++axis) {
    CAPTURE(axis);
    expect_gradcheck([axis](const std::vector<Var>& v) { return unsqueeze(v[0], axis); }, {randn({2, 3}, 10)});
  }
  expect_gradcheck([](const std::vector<Var>& v) { return unsqueeze(v[0], -1); }, {randn(rank0, 11)});
}

TEST_CASE("transpose and permute pass gradcheck on every pair and permutation") {
  Tensor x = randn({2, 3, 4}, 20);
  for (long a = -3; a < 3; ++a) {
    for (long b = -3; b < 3; ++b) {
      CAPTURE(a);
      CAPTURE(b);
      expect_gradcheck([a, b](const std::vector<Var>& v) { return transpose(v[0], a, b); }, {x});
    }
  }
  expect_gradcheck([](const std::vector<Var>& v) { return transpose(v[0], 0, 1); }, {randn({1, 3}, 21)});
  std::vector<long> dims = {0, 1, 2};
  do {
    CAPTURE(dims[0]);
    CAPTURE(dims[1]);
    CAPTURE(dims[2]);
    expect_gradcheck([dims](const std::vector<Var>& v) { return permute(v[0], dims); }, {x});
  } while (std::next_permutation(dims.begin(), dims.end()));
  expect_gradcheck([](const std::vector<Var>& v) { return permute(v[0], {-1, 0, 2, 1}); }, {randn({1, 2, 1, 3}, 22)});
  expect_gradcheck([](const std::vector<Var>& v) { return permute(v[0], {}); }, {randn(Shape{}, 23)});
}

TEST_CASE("permute through a view passes gradcheck and equals reshape, permute, reshape") {
  auto three_ops = [](const Var& x, const Shape& view, const std::vector<long>& dims, const Shape& shape) {
    return reshape(permute(reshape(x, view), dims), shape);
  };
  struct Case {
    Shape in, view;
    std::vector<long> dims;
    Shape out;
  };
  const std::vector<Case> cases = {{{2, 3, 4}, {2, 3, 2, 2}, {0, 2, 1, 3}, {4, 3, 2}},  // split heads
                                   {{4, 3, 2}, {2, 2, 3, 2}, {0, 2, 1, 3}, {2, 3, 4}},  // merge heads
                                   {{1, 1, 2}, {1, 1, 1, 2}, {0, 2, 1, 3}, {1, 1, 2}},  // size-1 dims
                                   {{1, 3, 1}, {3, 1, 1}, {-1, 0, 1}, {1, 3}}};
  for (std::size_t i = 0; i < cases.size(); ++i) {
    CAPTURE(i);
    const Case k = cases[i];
    Tensor x = randn(k.in, 30 + i);
    expect_gradcheck([k](const std::vector<Var>& v) { return permute(v[0], k.view, k.dims, k.out); }, {x});
    Var a = permute(Var(x), k.view, k.dims, k.out), b = three_ops(Var(x), k.view, k.dims, k.out);
    CHECK(a.shape() == b.shape());
    CHECK(xt::all(xt::equal(a.value().array<double>(), b.value().array<double>())));
  }
  CHECK_THROWS_AS(permute(Var(randn({2, 3}, 40)), Shape{5}, {0}, Shape{6}), ShapeError);
}

TEST_CASE("broadcast_to passes gradcheck; its gradient sums over the repeats") {
  Shape rank0;
  std::vector<std::pair<Shape, Shape>> cases = {{{3}, {2, 3}},         {{2, 1}, {2, 4}}, {rank0, {2, 2}},
                                                {{1, 3}, {2, 1, 3}},   {{2, 3}, {2, 3}}, {{1}, {0}},
                                                {{3, 1, 2}, {3, 4, 2}}};
  std::uint64_t seed = 30;
  for (const auto& entry : cases) {
    const auto& from = std::get<0>(entry);
    const auto& to = std::get<1>(entry);
    CAPTURE(shape_str(from));
    CAPTURE(shape_str(to));
    Shape target = to;
    expect_gradcheck([target](const std::vector<Var>& v) { return broadcast_to(v[0], target); }, {randn(from, seed++)});
  }
  for (DType dt : {DType::f32, DType::f64}) {
    Var x(Tensor::from_vector({1, 2}, {2, 1}, dt), true);
    Var y = broadcast_to(x, {2, 3});
    CHECK(values(y) == std::vector<double>{1, 1, 1, 2, 2, 2});
    y.backward(iota({2, 3}, dt));
    CHECK(x.grad().to_vector() == std::vector<double>{0 + 1 + 2, 3 + 4 + 5});
  }
}

TEST_CASE("concat passes gradcheck on every axis with a constant member and members of size 0 and 1") {
  const Shape base{2, 3, 4};
  std::uint64_t seed = 40;
  for (long axis = -3; axis < 3; ++axis) {
    for (std::size_t constant_size : {std::size_t{1}, std::size_t{0}, std::size_t{2}}) {
      CAPTURE(axis);
      CAPTURE(constant_size);
      // The constant does not require grad: it is built inside f, not passed to gradcheck.
      Tensor constant = randn(with_dim(base, axis, constant_size), seed++);
      Tensor a = randn(with_dim(base, axis, 2), seed++), b = randn(with_dim(base, axis, 1), seed++);
      expect_gradcheck(
          [constant, axis](const std::vector<Var>& v) {
            return concat({v[0], Var(constant), v[1]}, axis);
          },
          {a, b});
      Tensor empty = randn(with_dim(base, axis, 0), seed++);
      expect_gradcheck(
          [constant, axis](const std::vector<Var>& v) {
            return concat({Var(constant), v[0], v[1]}, axis);
          },
          {empty, a});
    }
  }
  expect_gradcheck([](const std::vector<Var>& v) { return concat({v[0]}, 0); }, {randn({3}, 50)});
  expect_gradcheck(
      [](const std::vector<Var>& v) {
        return concat({v[0], v[1], v[0]}, -1);
      },
      {randn({1, 1}, 51), randn({1, 2}, 52)});
}

TEST_CASE("stack passes gradcheck on every axis with a constant member") {
  std::uint64_t seed = 60;
  for (Shape s : {Shape{2, 3}, Shape{1, 2}, Shape{}, Shape{0, 2}}) {
    const long rank = static_cast<long>(s.size());
    for (long axis = -rank - 1; axis <= rank; ++axis) {
      CAPTURE(shape_str(s));
      CAPTURE(axis);
      Tensor constant = randn(s, seed++);
      expect_gradcheck(
          [constant, axis](const std::vector<Var>& v) {
            return stack({v[0], Var(constant), v[1]}, axis);
          },
          {randn(s, seed++), randn(s, seed++)});
    }
  }
}

TEST_CASE("slice passes gradcheck with negative, clamped and stepped bounds") {
  struct Case {
    long axis, start, end, step;
  };
  Tensor x = randn({5, 4}, 70);
  for (Case k : std::vector<Case>{{0, 1, 4, 1},
                                  {0, -3, 100, 2},
                                  {1, 0, 4, 3},
                                  {-1, -1, -5, 1},
                                  {0, 0, 5, 1},
                                  {1, -100, 2, 1},
                                  {-2, 4, 5, 7},
                                  {0, 3, 1, 1},
                                  {1, 1, 4, 2}}) {
    CAPTURE(k.axis);
    CAPTURE(k.start);
    CAPTURE(k.end);
    CAPTURE(k.step);
    expect_gradcheck([k](const std::vector<Var>& v) { return slice(v[0], k.axis, k.start, k.end, k.step); }, {x});
  }
  expect_gradcheck([](const std::vector<Var>& v) { return slice(v[0], 1, 0, 1); }, {randn({2, 1, 3}, 71)});
  expect_gradcheck([](const std::vector<Var>& v) { return slice(v[0], 2, 1, 3, 2); }, {randn({2, 1, 3}, 72)});
}

TEST_CASE("split and chunk pass gradcheck piece by piece") {
  Tensor x = randn({5, 3}, 80);
  for (std::size_t piece = 0; piece < 3; ++piece) {
    CAPTURE(piece);
    expect_gradcheck([piece](const std::vector<Var>& v) { return split(v[0], {2, 0, 3}, 0)[piece]; }, {x});
    expect_gradcheck([piece](const std::vector<Var>& v) { return chunk(v[0], 3, 0)[piece]; }, {x});
  }
  expect_gradcheck([](const std::vector<Var>& v) { return chunk(v[0], 2, -1)[1]; }, {x});
  // Pieces recombined with different weights: each gets its own gradient.
  expect_gradcheck(
      [](const std::vector<Var>& v) {
        std::vector<Var> p = split(v[0], {1, 2}, 1);
        return concat({p[1] * 3.0, p[0] * -2.0}, 1);
      },
      {x});
}

TEST_CASE("shape ops give closed-form values in float32 and float64") {
  for (DType dt : {DType::f32, DType::f64}) {
    CAPTURE(std::string(dtype_name(dt)));
    Var x(iota({2, 3}, dt));  // [[0, 1, 2], [3, 4, 5]]
    CHECK(transpose(x, 0, 1).shape() == Shape{3, 2});
    CHECK(values(transpose(x, 0, 1)) == std::vector<double>{0, 3, 1, 4, 2, 5});
    CHECK(transpose(x, 0, 1).dtype() == dt);
    CHECK(reshape(x, {-1, 2}).shape() == Shape{3, 2});
    CHECK(values(reshape(x, {-1, 2})) == std::vector<double>{0, 1, 2, 3, 4, 5});
    CHECK(squeeze(reshape(x, {1, 6, 1})).shape() == Shape{6});
    const std::size_t rows = 3, cols = 2;
    CHECK(reshape(x, {rows, cols}).shape() == Shape{3, 2});
    CHECK(reshape(x, {static_cast<long>(rows), -1L}).shape() == Shape{3, 2});
    CHECK(reshape(x, x.shape()).shape() == Shape{2, 3});
    CHECK(unsqueeze(x, 1).shape() == Shape{2, 1, 3});
    CHECK(unsqueeze(x, -1).shape() == Shape{2, 3, 1});
    CHECK(values(slice(x, 1, 0, 3, 2)) == std::vector<double>{0, 2, 3, 5});
    CHECK(values(slice(x, -1, -2, 100)) == std::vector<double>{1, 2, 4, 5});
    CHECK(slice(x, 0, 2, 0).shape() == Shape{0, 3});
    CHECK(values(concat({x, x}, 1)) == std::vector<double>{0, 1, 2, 0, 1, 2, 3, 4, 5, 3, 4, 5});
    CHECK(values(concat({x, slice(x, 0, 1, 2)}, 0)) == std::vector<double>{0, 1, 2, 3, 4, 5, 3, 4, 5});
    CHECK(values(stack({x, x}, 0)) == std::vector<double>{0, 1, 2, 3, 4, 5, 0, 1, 2, 3, 4, 5});
    CHECK(stack({x, x}, -1).shape() == Shape{2, 3, 2});
    CHECK(values(stack({x, x}, -1)) == std::vector<double>{0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5});
    Var y(iota({2, 3, 4}, dt));
    Var p = permute(y, {2, 0, 1});
    CHECK(p.shape() == Shape{4, 2, 3});
    CHECK(values(p) ==
          std::vector<double>{0, 4, 8, 12, 16, 20, 1, 5, 9, 13, 17, 21, 2, 6, 10, 14, 18, 22, 3, 7, 11, 15, 19, 23});
    std::vector<Var> parts = split(x, {1, 2}, 1);
    CHECK(values(parts[0]) == std::vector<double>{0, 3});
    CHECK(values(parts[1]) == std::vector<double>{1, 2, 4, 5});
  }
}

TEST_CASE("chunk sizes follow torch.chunk") {
  auto sizes = [](std::size_t n, std::size_t chunks) {
    std::vector<std::size_t> out;
    for (const Var& p : chunk(Var(Tensor::zeros({n, 2})), chunks, 0)) out.push_back(p.shape()[0]);
    return out;
  };
  CHECK(sizes(5, 3) == std::vector<std::size_t>{2, 2, 1});
  CHECK(sizes(6, 4) == std::vector<std::size_t>{2, 2, 2});
  CHECK(sizes(2, 4) == std::vector<std::size_t>{1, 1});
  CHECK(sizes(0, 3) == std::vector<std::size_t>{0, 0, 0});
  CHECK(sizes(4, 1) == std::vector<std::size_t>{4});
}

TEST_CASE("copy kernels match an element-by-element reference on larger shapes") {
  // Shapes larger than the 32-element transpose tile and not multiples of it.
  for (DType dt : {DType::f32, DType::f64}) {
    CAPTURE(std::string(dtype_name(dt)));
    const Shape s{3, 37, 70};
    Var x(iota(s, dt));
    std::vector<long> dims = {0, 1, 2};
    do {
      CAPTURE(dims[0]);
      CAPTURE(dims[1]);
      CAPTURE(dims[2]);
      Var y = permute(x, dims);
      bool same = true;
      for (std::size_t f = 0; f < y.size(); ++f) {
        std::vector<std::size_t> out = unravel(f, y.shape()), in(3);
        for (std::size_t d = 0; d < 3; ++d) in[static_cast<std::size_t>(dims[d])] = out[d];
        same = same && y.value().at(f) == static_cast<double>(flat(in, s));
      }
      CHECK(same);
    } while (std::next_permutation(dims.begin(), dims.end()));
    // A stepped slice of a transpose-sized block, and a broadcast along the inner and outer dimension.
    Var sl = slice(x, 2, 3, 70, 5);
    bool same = sl.shape() == Shape{3, 37, 14};
    for (std::size_t f = 0; same && f < sl.size(); ++f) {
      std::vector<std::size_t> i = unravel(f, sl.shape());
      i[2] = 3 + 5 * i[2];
      same = sl.value().at(f) == static_cast<double>(flat(i, s));
    }
    CHECK(same);
    Var column(iota({40, 1}, dt)), row(iota({1, 40}, dt));
    Var bc = broadcast_to(column, {40, 40}), br = broadcast_to(row, {3, 40, 40});
    for (std::size_t f = 0; f < 1600; ++f) {
      same = same && bc.value().at(f) == static_cast<double>(f / 40) &&
             br.value().at(f + 1600) == static_cast<double>(f % 40);
    }
    CHECK(same);
  }
}

TEST_CASE("backward of slice, concat and stack sends each input its part of dy") {
  for (DType dt : {DType::f32, DType::f64}) {
    CAPTURE(std::string(dtype_name(dt)));
    Var x(iota({2, 3}, dt), true);
    Var s = slice(x, 1, 0, 3, 2);
    s.backward(Tensor::from_vector({10, 20, 30, 40}, {2, 2}, dt));
    CHECK(x.grad().to_vector() == std::vector<double>{10, 0, 20, 30, 0, 40});

    Var a(iota({2, 1}, dt), true), b(iota({2, 2}, dt), true), c(iota({2, 0}, dt), true);
    Var y = concat({a, b, c}, 1);
    y.backward(Tensor::from_vector({1, 2, 3, 4, 5, 6}, {2, 3}, dt));
    CHECK(a.grad().to_vector() == std::vector<double>{1, 4});
    CHECK(b.grad().to_vector() == std::vector<double>{2, 3, 5, 6});
    CHECK(c.grad().shape() == Shape{2, 0});

    Var p(iota({2}, dt), true), q(iota({2}, dt), true);
    Var z = stack({p, q}, 1);
    z.backward(Tensor::from_vector({1, 2, 3, 4}, {2, 2}, dt));
    CHECK(p.grad().to_vector() == std::vector<double>{1, 3});
    CHECK(q.grad().to_vector() == std::vector<double>{2, 4});
  }
}

TEST_CASE("concat and stack record one tape entry with all their inputs") {
  Tape tape;
  UseTape use(tape);
  Var a(Tensor::zeros({2, 3}), true), b(Tensor::zeros({1, 3})), c(Tensor::zeros({4, 3}), true);
  Var y = concat({a, b, c}, 0);
  REQUIRE(tape.size() == 1);
  CHECK(std::string(tape.entry(0).op) == "concat");
  CHECK(tape.inputs_of(tape.entry(0)).size() == 3);
  CHECK(y.shape() == Shape{7, 3});
  stack({a, a, a, a}, 0);
  REQUIRE(tape.size() == 2);
  CHECK(tape.inputs_of(tape.entry(1)).size() == 4);
  // A member that does not require grad gets no gradient.
  y.backward(Tensor::ones({7, 3}));
  CHECK_FALSE(b.grad().defined());
  CHECK(a.grad().to_vector() == std::vector<double>(6, 1.0));
}

TEST_CASE("shape ops name the op, the shapes and the bad argument in their errors") {
  Var x(Tensor::zeros({2, 3}));
  CHECK_THROWS_WITH_AS(reshape(x, Shape{4, 2}),
                       doctest::Contains("op 'reshape': cannot reshape [2, 3] (6 elements) into [4, 2]"), ShapeError);
  CHECK_THROWS_WITH_AS(reshape(x, {4, -1}), doctest::Contains("[2, 3] (6 elements) into [4, -1]"), ShapeError);
  CHECK_THROWS_WITH_AS(reshape(x, {-1, -1}), doctest::Contains("at most one -1"), ShapeError);
  CHECK_THROWS_WITH_AS(reshape(x, {-2, 3}), doctest::Contains("[-2, 3]"), ShapeError);
  CHECK_THROWS_WITH_AS(reshape(Var(Tensor::zeros({0, 3})), {0, -1}), doctest::Contains("no size for the -1"),
                       ShapeError);
  CHECK_THROWS_WITH_AS(transpose(x, 0, 2), doctest::Contains("op 'transpose': axis 2 is out of range"), IndexError);
  CHECK_THROWS_WITH_AS(permute(x, {0, 0}), doctest::Contains("op 'permute': dims [0, 0] are not a permutation"),
                       ShapeError);
  CHECK_THROWS_WITH_AS(permute(x, {0}), doctest::Contains("dims [0] must list each of the 2 dimensions of [2, 3]"),
                       ShapeError);
  CHECK_THROWS_WITH_AS(permute(x, {0, 5}), doctest::Contains("op 'permute': axis 5"), IndexError);
  CHECK_THROWS_WITH_AS(squeeze(x, 1), doctest::Contains("op 'squeeze': dimension 1 of [2, 3] has size 3, not 1"),
                       ShapeError);
  CHECK_THROWS_WITH_AS(unsqueeze(x, 3), doctest::Contains("op 'unsqueeze': axis 3 is out of range"), IndexError);
  CHECK_THROWS_WITH_AS(unsqueeze(x, -4), doctest::Contains("valid: -3 to 2"), IndexError);
  CHECK_THROWS_WITH_AS(broadcast_to(x, {4, 3}),
                       doctest::Contains("op 'broadcast_to': cannot broadcast [2, 3] to [4, 3]"), ShapeError);
  CHECK_THROWS_WITH_AS(broadcast_to(x, {3}), doctest::Contains("[2, 3] to [3]"), ShapeError);

  CHECK_THROWS_WITH_AS(concat({}, 0), doctest::Contains("op 'concat': needs at least one tensor"), Error);
  Var y(Tensor::zeros({2, 4})), z(Tensor::zeros({2, 3, 1}));
  CHECK_THROWS_WITH_AS(concat({x, x, y}, 0),
                       doctest::Contains("shapes [2, 3], [2, 3], [2, 4] do not concatenate along axis 0: tensor 2"),
                       ShapeError);
  CHECK_THROWS_WITH_AS(concat({x, z}, 0), doctest::Contains("[2, 3], [2, 3, 1]"), ShapeError);
  CHECK_THROWS_WITH_AS(concat({x, Var(Tensor::zeros({2, 3}, DType::f64))}, 0),
                       doctest::Contains("op 'concat': tensor 1 is float64 but tensor 0 is float32"), DTypeError);
  CHECK_THROWS_WITH_AS(concat({Var(Tensor::zeros(Shape{}))}, 0), doctest::Contains("rank-0"), ShapeError);
  CHECK_THROWS_WITH_AS(concat({x}, 2), doctest::Contains("op 'concat': axis 2"), IndexError);
  CHECK_THROWS_WITH_AS(stack({x, y}, 0),
                       doctest::Contains("op 'stack': all tensors must have one shape, got [2, 3], [2, 4]"),
                       ShapeError);
  CHECK_THROWS_WITH_AS(stack({}, 0), doctest::Contains("op 'stack': needs at least one tensor"), Error);
  CHECK_THROWS_WITH_AS(stack({x}, 3), doctest::Contains("op 'stack': axis 3"), IndexError);

  CHECK_THROWS_WITH_AS(slice(x, 0, 0, 2, 0), doctest::Contains("op 'slice': step must be >= 1, got 0"), Error);
  CHECK_THROWS_WITH_AS(slice(x, 2, 0, 1), doctest::Contains("op 'slice': axis 2"), IndexError);
  CHECK_THROWS_WITH_AS(split(x, {1, 1}, 1),
                       doctest::Contains("op 'split': sizes [1, 1] sum to 2 but dimension 1 of [2, 3] has size 3"),
                       ShapeError);
  CHECK_THROWS_WITH_AS(chunk(x, 0, 1), doctest::Contains("op 'chunk': chunks must be in [1, 2^63 - 1], got 0"), Error);
  NameScope scope("encoder");
  CHECK_THROWS_WITH_AS(reshape(x, {5}), doctest::Contains("op 'reshape' in scope 'encoder'"), ShapeError);
}
