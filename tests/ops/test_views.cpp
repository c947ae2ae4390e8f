// A transpose or a slice materialises a contiguous result; whatever follows it
// must compute exactly what it computes on a leaf holding the same values.

#include <cstring>
#include <functional>

#include "check.hpp"
#include "tapegrad.hpp"
#include "tapegrad/ops/shape.hpp"

using namespace tg;

namespace {

bool same_bits(const Tensor& a, const Tensor& b) {
  if (a.dtype() != b.dtype() || a.shape() != b.shape()) return false;
  return dispatch(a.dtype(), [&](auto zero) {
    using T = decltype(zero);
    return a.size() == 0 || std::memcmp(a.array<T>().data(), b.array<T>().data(), a.size() * sizeof(T)) == 0;
  });
}

// Copies element by element with `source(i)` giving the flat index in `from`
// of element i of the result: the reference, without any op.
Tensor remap(const Tensor& from, const Shape& shape, const std::function<std::size_t(std::size_t)>& source) {
  Tensor out = Tensor::zeros(shape, from.dtype());
  for (std::size_t i = 0; i < out.size(); ++i) out.set(i, from.at(source(i)));
  return out;
}

// A chain of ops with no reduction: elementwise, activation, softmax along an
// axis, a product with ones, and a broadcast weight.
Var chain(const Var& z, long softmax_axis) {
  Var w(Tensor::normal({z.shape().back()}, 0.5, 1.0, 3, z.dtype()));
  Var ones(Tensor::ones(z.shape(), z.dtype()));
  return softmax(tanh(z) * w + exp(z * 0.3), softmax_axis) * ones * z;
}

struct Run {
  Tensor value, grad;
};

// chain(view(x)) and its gradient with respect to x, from a fixed seed.
Run run(const Tensor& x, const std::function<Var(const Var&)>& view, long softmax_axis) {
  Var leaf(x, true);
  Var y = chain(view(leaf), softmax_axis);
  y.backward(Tensor::normal(y.shape(), 0, 1, 11, y.dtype()));
  return {y.value(), leaf.grad()};
}

}  // namespace

TEST_CASE("strided views (a transpose, a slice) give the same values and gradients as contiguous copies") {
  for (DType dt : {DType::f32, DType::f64}) {
    CAPTURE(std::string(dtype_name(dt)));
    const Tensor x = Tensor::normal({4, 6}, 0, 1, 5, dt);
    for (long axis : {0L, 1L}) {
      CAPTURE(axis);
      // transpose: x^T as a leaf vs transpose(x)
      auto t_source = [](std::size_t i) { return (i % 4) * 6 + i / 4; };  // x^T [6, 4] -> x [4, 6]
      Tensor xt_contig = remap(x, {6, 4}, t_source);
      Run viewed = run(
          x, [](const Var& v) { return transpose(v, 0, 1); }, axis);
      Run contig = run(
          xt_contig, [](const Var& v) { return v; }, axis);
      CHECK(same_bits(viewed.value, contig.value));
      // x's gradient is the leaf's gradient transposed back.
      CHECK(same_bits(viewed.grad, remap(contig.grad, {4, 6}, [](std::size_t i) { return (i % 6) * 4 + i / 6; })));

      // slice with step 2 along the columns: x[:, 1::2]
      auto s_source = [](std::size_t i) { return (i / 3) * 6 + 1 + 2 * (i % 3); };
      Tensor xs_contig = remap(x, {4, 3}, s_source);
      viewed = run(
          x, [](const Var& v) { return slice(v, 1, 1, 6, 2); }, axis);
      contig = run(
          xs_contig, [](const Var& v) { return v; }, axis);
      CHECK(same_bits(viewed.value, contig.value));
      Tensor expected = Tensor::zeros({4, 6}, dt);
      for (std::size_t i = 0; i < 12; ++i) expected.set(s_source(i), contig.grad.at(i));
      CHECK(same_bits(viewed.grad, expected));
    }
  }
}

TEST_CASE("a permute followed by a stepped slice matches a contiguous copy bitwise") {
  for (DType dt : {DType::f32, DType::f64}) {
    CAPTURE(std::string(dtype_name(dt)));
    const Tensor x = Tensor::normal({2, 3, 5}, 0, 1, 6, dt);
    // permute to [5, 2, 3], then rows 0, 2, 4 of the first axis: [3, 2, 3]
    auto source = [](std::size_t i) {
      std::size_t c = i % 3, b = (i / 3) % 2, a = 2 * (i / 6);
      return (b * 3 + c) * 5 + a;
    };
    Tensor contig_value = remap(x, {3, 2, 3}, source);
    for (long axis : {0L, 1L, 2L}) {
      CAPTURE(axis);
      Run viewed = run(
          x,
          [](const Var& v) {
            return slice(permute(v, {2, 0, 1}), 0, 0, 5, 2);
          },
          axis);
      Run contig = run(
          contig_value, [](const Var& v) { return v; }, axis);
      CHECK(same_bits(viewed.value, contig.value));
      Tensor expected = Tensor::zeros({2, 3, 5}, dt);
      for (std::size_t i = 0; i < 18; ++i) expected.set(source(i), contig.grad.at(i));
      CHECK(same_bits(viewed.grad, expected));
    }
  }
}
