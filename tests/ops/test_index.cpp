#include <cmath>
#include <limits>

#include "check.hpp"
#include "tapegrad.hpp"
#include "tapegrad/ops/index.hpp"

using namespace tg;
using tg::test::expect_gradcheck;
using tg::test::randn;

namespace {

constexpr double inf = std::numeric_limits<double>::infinity();

Tensor iota(const Shape& shape, DType dtype = DType::f64) {
  Tensor t = Tensor::zeros(shape, dtype);
  for (std::size_t i = 0; i < t.size(); ++i) t.set(i, static_cast<double>(i));
  return t;
}

// Shapes as std::vector: a braced Shape temporary here trips a false GCC 12
// -Wmaybe-uninitialized inside xtensor's svector.
Indices indices(std::initializer_list<std::int64_t> values, const std::vector<std::size_t>& shape) {
  Indices t = Indices::from_shape(shape);
  std::copy(values.begin(), values.end(), t.begin());
  return t;
}

// Deterministic indices in [0, bound) with repeats.
Indices spread(const Shape& shape, std::int64_t bound) {
  Indices t = Indices::from_shape(shape);
  for (std::size_t i = 0; i < t.size(); ++i) t.data()[i] = static_cast<std::int64_t>(i * 7 + 3) % bound;
  return t;
}

// true at every third element.
Mask pattern(const Shape& shape) {
  Mask m = Mask::from_shape(shape);
  for (std::size_t i = 0; i < m.size(); ++i) m.data()[i] = i % 3 == 0;
  return m;
}

Mask mask_of(std::initializer_list<bool> values, const std::vector<std::size_t>& shape) {
  Mask m = Mask::from_shape(shape);
  std::copy(values.begin(), values.end(), m.begin());
  return m;
}

}  // namespace

TEST_CASE("embedding passes gradcheck for ids of any shape, with repeats") {
  Tensor w = randn({5, 3}, 1);
  Shape rank0;
  for (const Indices& ids : {indices({1, 3, 1, 1}, {2, 2}), Indices(2), indices({0, 1, 2, 3, 4}, {5}), indices({}, {0}),
                             spread({2, 3, 2}, 5)}) {
    CAPTURE(shape_str(Shape(ids.shape().begin(), ids.shape().end())));
    expect_gradcheck([ids](const std::vector<Var>& v) { return embedding(v[0], ids); }, {w});
  }
  expect_gradcheck(
      [](const std::vector<Var>& v) {
        return embedding(v[0], indices({0, 0, 0}, {3}));
      },
      {randn({1, 1}, 2)});
}

TEST_CASE("embedding gives the picked rows and accumulates the gradient of repeated ids") {
  for (DType dt : {DType::f32, DType::f64}) {
    CAPTURE(std::string(dtype_name(dt)));
    Var w(iota({4, 2}, dt), true);  // row v is [2v, 2v + 1]
    Var y = embedding(w, indices({1, 3, 1, 1}, {2, 2}));
    CHECK(y.shape() == Shape{2, 2, 2});
    CHECK(y.dtype() == dt);
    CHECK(y.value().to_vector() == std::vector<double>{2, 3, 6, 7, 2, 3, 2, 3});
    y.backward(iota({2, 2, 2}, dt));  // dy at position p is [2p, 2p + 1]
    // row 1 was picked at positions 0, 2, 3; row 3 at position 1; rows 0 and 2 never
    CHECK(w.grad().to_vector() == std::vector<double>{0, 0, 0 + 4 + 6, 1 + 5 + 7, 0, 0, 2, 3});
    CHECK(embedding(w, Indices(3)).value().to_vector() == std::vector<double>{6, 7});
  }
}

TEST_CASE("gather passes gradcheck on every axis, with repeats and index smaller or larger than x") {
  struct Case {
    Shape x;
    long axis;
    Shape index;
  };
  std::uint64_t seed = 10;
  for (const Case& k : std::vector<Case>{{{3, 4}, 0, {2, 4}},
                                         {{3, 4}, 1, {3, 6}},
                                         {{3, 4}, -1, {2, 2}},
                                         {{3, 4}, -2, {5, 1}},
                                         {{2, 3, 4}, 1, {2, 5, 1}},
                                         {{2, 3, 4}, 2, {1, 3, 4}},
                                         {{1, 4}, 0, {3, 4}},
                                         {{3, 4}, 1, {3, 0}},
                                         {{4}, 0, {7}}}) {
    CAPTURE(shape_str(k.x));
    CAPTURE(k.axis);
    CAPTURE(shape_str(k.index));
    const std::size_t ax = static_cast<std::size_t>(k.axis < 0 ? k.axis + static_cast<long>(k.x.size()) : k.axis);
    Indices index = spread(k.index, static_cast<std::int64_t>(k.x[ax]));
    const long axis = k.axis;
    expect_gradcheck([index, axis](const std::vector<Var>& v) { return gather(v[0], axis, index); },
                     {randn(k.x, seed++)});
  }
}

TEST_CASE("gather gives torch.gather's values and scatter-adds its gradient") {
  for (DType dt : {DType::f32, DType::f64}) {
    CAPTURE(std::string(dtype_name(dt)));
    Var t(Tensor::from_vector({1, 2, 3, 4}, {2, 2}, dt), true);
    Var y = gather(t, 1, indices({0, 0, 1, 0}, {2, 2}));
    CHECK(y.value().to_vector() == std::vector<double>{1, 1, 4, 3});
    y.backward(Tensor::from_vector({10, 20, 30, 40}, {2, 2}, dt));
    CHECK(t.grad().to_vector() == std::vector<double>{30, 0, 40, 30});
    Var z = gather(Var(iota({3, 2}, dt)), 0, indices({2, 0, 1, 1, 0, 2}, {3, 2}));
    CHECK(z.value().to_vector() == std::vector<double>{4, 1, 2, 3, 0, 5});
  }
}

TEST_CASE("where passes gradcheck with the mask, a and b broadcasting") {
  struct Case {
    Shape mask, a, b;
  };
  Shape rank0;
  std::uint64_t seed = 30;
  for (const Case& k : std::vector<Case>{{{2, 3}, {2, 3}, {2, 3}},
                                         {{2, 3}, {3}, {2, 1}},
                                         {{3}, {2, 3}, rank0},
                                         {rank0, {2, 3}, {3}},
                                         {{2, 1, 3}, {4, 1}, {1}},
                                         {{1, 1}, {1, 3}, {2, 1}}}) {
    CAPTURE(shape_str(k.mask));
    CAPTURE(shape_str(k.a));
    CAPTURE(shape_str(k.b));
    Mask mask = pattern(k.mask);
    expect_gradcheck([mask](const std::vector<Var>& v) { return tg::where(mask, v[0], v[1]); },
                     {randn(k.a, seed++), randn(k.b, seed++)});
  }
}

TEST_CASE("where and masked_fill give closed-form values and gradients") {
  for (DType dt : {DType::f32, DType::f64}) {
    CAPTURE(std::string(dtype_name(dt)));
    Mask m = mask_of({true, false, false, true}, {2, 2});
    Var a(Tensor::from_vector({1, 2, 3, 4}, {2, 2}, dt), true), b(Tensor::from_vector({-1, -2}, {1, 2}, dt), true);
    Var y = tg::where(m, a, b);
    CHECK(y.value().to_vector() == std::vector<double>{1, -2, -1, 4});
    y.backward(Tensor::from_vector({10, 20, 30, 40}, {2, 2}, dt));
    CHECK(a.grad().to_vector() == std::vector<double>{10, 0, 0, 40});
    CHECK(b.grad().to_vector() == std::vector<double>{30, 20});

    Var x(Tensor::from_vector({1, 2, 3, 4, 5, 6}, {2, 3}, dt), true);
    Var f = masked_fill(x, mask_of({false, true, false}, {3}), 9.5);
    CHECK(f.value().to_vector() == std::vector<double>{1, 9.5, 3, 4, 9.5, 6});
    CHECK(f.dtype() == dt);
    f.backward(iota({2, 3}, dt));
    CHECK(x.grad().to_vector() == std::vector<double>{0, 0, 2, 3, 0, 5});
  }
}

TEST_CASE("masked_fill passes gradcheck, alone and before softmax") {
  std::uint64_t seed = 50;
  for (Shape s : {Shape{2, 3}, Shape{1, 4}, Shape{3}}) {
    CAPTURE(shape_str(s));
    Mask full = pattern(s);
    Mask row = pattern({s.back()});
    Tensor x = randn(s, seed++);
    expect_gradcheck([full](const std::vector<Var>& v) { return masked_fill(v[0], full, 0.25); }, {x});
    expect_gradcheck([row](const std::vector<Var>& v) { return masked_fill(v[0], row, -3.0); }, {x});
    expect_gradcheck([row](const std::vector<Var>& v) { return softmax(masked_fill(v[0], row, -inf)); }, {x});
  }
  // One row fully masked: its outputs are constant 0, numerically and analytically.
  Mask m = mask_of({false, true, false, true, true, true, true, true}, {2, 4});
  expect_gradcheck([m](const std::vector<Var>& v) { return softmax(masked_fill(v[0], m, -inf)); }, {randn({2, 4}, 59)});
}

TEST_CASE("masked_fill with -inf before softmax: masked probability and gradient exactly 0, no NaN anywhere") {
  // row 0 unmasked, row 1 masked at columns 1 and 3, row 2 fully masked
  Mask m = mask_of({false, false, false, false, false, true, false, true, true, true, true, true}, {3, 4});
  for (DType dt : {DType::f32, DType::f64}) {
    CAPTURE(std::string(dtype_name(dt)));
    Var x(Tensor::normal({3, 4}, 0, 1, 7, dt), true);
    Var p = softmax(masked_fill(x, m, -inf));
    p.backward(Tensor::normal({3, 4}, 0, 1, 8, dt));
    const Tensor& y = p.value();
    const Tensor& g = x.grad();
    for (std::size_t i = 0; i < 12; ++i) {
      CAPTURE(i);
      CHECK_FALSE(std::isnan(y.at(i)));
      CHECK(std::isfinite(g.at(i)));
      if (m.data()[i]) {
        CHECK(y.at(i) == 0);
        CHECK(g.at(i) == 0);
      } else {
        CHECK(y.at(i) > 0);
        CHECK(g.at(i) != 0);
      }
    }
    CHECK(y.at(4) + y.at(6) == doctest::Approx(1.0));
  }
}

TEST_CASE("anomaly mode allows masked_fill's -inf but flags a NaN fill") {
  AnomalyMode anomaly;
  Var x(Tensor::zeros({2, 2}), true);
  Mask m = mask_of({true, false, false, false}, {2, 2});
  Var p;
  CHECK_NOTHROW(p = softmax(masked_fill(x, m, -inf)));
  CHECK_NOTHROW(p.backward(Tensor::ones({2, 2})));
  CHECK(x.grad().at(0) == 0);
  CHECK_THROWS_WITH_AS(masked_fill(x, m, std::nan("")), doctest::Contains("op 'masked_fill'"), AnomalyError);
}

TEST_CASE("index ops name the op, the index, its position and the size in their errors") {
  Var w(Tensor::zeros({4, 3}));
  CHECK_THROWS_WITH_AS(
      embedding(w, indices({0, 1, 5, 2}, {2, 2})),
      doctest::Contains("op 'embedding': id 5 at position [1, 0] of ids [2, 2] is out of range for V = 4"), IndexError);
  CHECK_THROWS_WITH_AS(embedding(w, indices({-1}, {1})), doctest::Contains("id -1 at position [0]"), IndexError);
  CHECK_THROWS_WITH_AS(embedding(Var(Tensor::zeros({4})), indices({0}, {1})),
                       doctest::Contains("op 'embedding': weight must have shape [V, E], got [4]"), ShapeError);

  Var x(Tensor::zeros({3, 4}));
  CHECK_THROWS_WITH_AS(
      gather(x, 0, indices({0, 3, 1, 2}, {1, 4})),
      doctest::Contains("op 'gather': index 3 at position [0, 1] is out of range for axis 0 of size 3"), IndexError);
  CHECK_THROWS_WITH_AS(gather(x, 1, indices({-2}, {1, 1})), doctest::Contains("index -2 at position [0, 0]"),
                       IndexError);
  CHECK_THROWS_WITH_AS(gather(x, 0, indices({0, 0}, {2})),
                       doctest::Contains("op 'gather': index of shape [2] must have the rank of x [3, 4]"), ShapeError);
  CHECK_THROWS_WITH_AS(gather(x, 0, indices({0, 0, 0, 0, 0}, {1, 5})),
                       doctest::Contains("index of shape [1, 5] is larger than x [3, 4] in dimension 1"), ShapeError);
  CHECK_THROWS_WITH_AS(gather(x, 2, indices({0}, {1, 1})), doctest::Contains("op 'gather': axis 2"), IndexError);

  Var a(Tensor::zeros({2, 3})), b(Tensor::zeros({4}));
  CHECK_THROWS_WITH_AS(tg::where(pattern({2, 3}), a, b),
                       doctest::Contains("op 'where': mask [2, 3], a [2, 3] and b [4] do not broadcast"), ShapeError);
  CHECK_THROWS_WITH_AS(tg::where(pattern({2, 3}), a, Var(Tensor::zeros({2, 3}, DType::f64))),
                       doctest::Contains("op 'where'"), DTypeError);
  CHECK_THROWS_WITH_AS(masked_fill(Var(Tensor::zeros({3})), pattern({2, 3}), 0.0),
                       doctest::Contains("op 'masked_fill': mask of shape [2, 3] does not broadcast to the input's "
                                         "shape [3]"),
                       ShapeError);
  CHECK_THROWS_WITH_AS(masked_fill(a, pattern({4}), 0.0), doctest::Contains("[4]"), ShapeError);
}
