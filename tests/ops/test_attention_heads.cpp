#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include <xtensor/xbuilder.hpp>

#include "check.hpp"
#include "tapegrad/ops/attention.hpp"
#include "tapegrad/ops/dropout.hpp"
#include "tapegrad/ops/elementwise.hpp"
#include "tapegrad/ops/index.hpp"
#include "tapegrad/ops/linalg.hpp"
#include "tapegrad/ops/reduce.hpp"
#include "tapegrad/ops/shape.hpp"
#include "tapegrad/ops/softmax.hpp"

using namespace tg;
using tg::test::expect_gradcheck;
using tg::test::randn;

namespace {

struct Sizes {
  std::size_t batch, heads, l, s, d, dv;
};

// attend_heads written with the ops it replaces: split the query's heads, scale, matmul, add,
// masked_fill, softmax, dropout, matmul, merge.
Var composed(const Var& query, const Var& keys, const Var& values, const Sizes& z, const HeadAttentionOptions& o,
             Generator* gen) {
  Var q = permute(query, Shape{z.batch, z.l, z.heads, z.d}, {0, 2, 1, 3}, Shape{z.batch * z.heads, z.l, z.d});
  Var scores = matmul(q / o.scale_divisor, keys, false, true);
  if (o.added.defined()) scores = scores + Var(o.added);
  if (o.blocked.size() > 0) scores = masked_fill(scores, o.blocked, -std::numeric_limits<double>::infinity());
  Var w = softmax(scores, -1);
  if (gen != nullptr) w = dropout(w, o.dropout, o.training, *gen);
  Var y = matmul(w, values);  // [B * heads, L, dv]
  return permute(y, Shape{z.batch, z.heads, z.l, z.dv}, {0, 2, 1, 3}, Shape{z.batch, z.l, z.heads * z.dv});
}

Mask causal(std::size_t l, std::size_t s) {
  Mask m = xt::zeros<bool>(std::vector<std::size_t>{l, s});
  for (std::size_t i = 0; i < l; ++i)
    for (std::size_t j = 0; j < s; ++j) m(i, j) = j > i;
  return m;
}

// [rows, 1, s]: the last `padded` keys of every row blocked.
Mask padding(std::size_t rows, std::size_t s, std::size_t padded) {
  Mask m = xt::zeros<bool>(std::vector<std::size_t>{rows, 1, s});
  for (std::size_t r = 0; r < rows; ++r)
    for (std::size_t j = 0; j < s; ++j) m(r, 0, j) = j + padded >= s;
  return m;
}

std::vector<Tensor> inputs(const Sizes& z, std::uint64_t seed) {
  return {randn({z.batch, z.l, z.heads * z.d}, seed), randn({z.batch * z.heads, z.s, z.d}, seed + 1),
          randn({z.batch * z.heads, z.s, z.dv}, seed + 2)};
}

double max_difference(const Tensor& a, const Tensor& b) {
  std::vector<double> x = a.to_vector(), y = b.to_vector();
  REQUIRE(x.size() == y.size());
  double worst = 0;
  for (std::size_t i = 0; i < x.size(); ++i) worst = std::max(worst, std::abs(x[i] - y[i]));
  return worst;
}

const std::vector<Sizes> kSizes = {
    {2, 2, 3, 4, 2, 3}, {1, 1, 1, 1, 1, 1}, {1, 3, 4, 1, 2, 2}, {3, 1, 1, 5, 3, 1}, {2, 4, 2, 3, 1, 2}};

}  // namespace

TEST_CASE("attend_heads passes gradcheck with every mask form, with size-1 dimensions") {
  for (const Sizes& z : kSizes) {
    CAPTURE(z.batch);
    CAPTURE(z.heads);
    CAPTURE(z.l);
    CAPTURE(z.s);
    std::vector<HeadAttentionOptions> cases(4);
    for (auto& o : cases) o.heads = z.heads, o.scale_divisor = std::sqrt(double(z.d));
    cases[1].blocked = causal(z.l, z.s);                                  // [L, S]
    cases[2].blocked = padding(z.batch * z.heads, z.s, z.s > 1 ? 1 : 0);  // [B * heads, 1, S]
    cases[2].added = randn({z.l, z.s}, 9);                                // broadcast over the rows
    cases[3].added = randn({z.batch * z.heads, z.l, z.s}, 10);
    cases[3].blocked = padding(z.batch * z.heads, z.s, z.s);  // every key: rows of zeros
    for (const HeadAttentionOptions& o : cases) {
      expect_gradcheck([&](const std::vector<Var>& v) { return attend_heads(v[0], v[1], v[2], o); }, inputs(z, 1));
    }
    // Dropout on the weights: a generator seeded afresh for every evaluation draws one mask.
    HeadAttentionOptions drop = cases[1];
    drop.dropout = 0.4;
    drop.training = true;
    expect_gradcheck(
        [&](const std::vector<Var>& v) {
          Generator gen(7);
          HeadAttentionOptions o = drop;
          o.generator = &gen;
          return attend_heads(v[0], v[1], v[2], o);
        },
        inputs(z, 4));
  }
}

TEST_CASE("attend_heads equals the ops it fuses, dropout draws included, in float64 and float32") {
  for (const Sizes& z : kSizes) {
    for (DType dtype : {DType::f64, DType::f32}) {
      CAPTURE(z.batch);
      CAPTURE(z.heads);
      CAPTURE(dtype_name(dtype));
      HeadAttentionOptions o{.heads = z.heads,
                             .scale_divisor = std::sqrt(double(z.d)),
                             .blocked = causal(z.l, z.s),
                             .added = randn({z.l, z.s}, 3).to(dtype),
                             .dropout = 0.3,
                             .training = true};
      std::vector<Var> fused_in, plain_in;
      for (const Tensor& t : inputs(z, 11)) {
        fused_in.push_back(Var(t.to(dtype), true));
        plain_in.push_back(Var(t.to(dtype), true));
      }
      Generator fused_gen(5), plain_gen(5);
      o.generator = &fused_gen;
      Var fused = attend_heads(fused_in[0], fused_in[1], fused_in[2], o);
      Var plain = composed(plain_in[0], plain_in[1], plain_in[2], z, o, &plain_gen);
      const double tolerance = dtype == DType::f64 ? 1e-14 : 1e-6;
      CHECK(max_difference(fused.value(), plain.value()) <= tolerance);
      const Tensor seed = randn(fused.shape(), 12).to(dtype);
      fused.backward(seed);
      plain.backward(seed);
      for (std::size_t i = 0; i < 3; ++i) {
        CAPTURE(i);
        CHECK(max_difference(fused_in[i].grad(), plain_in[i].grad()) <= tolerance);
      }
      // Both drew the same number of values from their generators.
      CHECK(fused_gen.uniform() == plain_gen.uniform());
    }
  }
}

TEST_CASE("attend_heads: outside training, or at p = 0, dropout draws nothing") {
  const Sizes z{2, 2, 3, 4, 2, 3};
  std::vector<Tensor> in = inputs(z, 1);
  Generator gen(3), untouched(3);
  for (bool training : {false, true}) {
    HeadAttentionOptions o{.heads = 2, .dropout = training ? 0.0 : 0.5, .training = training, .generator = &gen};
    attend_heads(Var(in[0]), Var(in[1]), Var(in[2]), o);
  }
  CHECK(gen.uniform() == untouched.uniform());
}

TEST_CASE("attend_heads names the shapes, dtypes and masks that do not fit") {
  const Sizes z{2, 2, 3, 4, 2, 3};
  std::vector<Tensor> in = inputs(z, 1);
  const Var q(in[0]), k(in[1]), v(in[2]);
  auto message = [&](auto&& f) -> std::string {
    try {
      f();
    } catch (const Error& e) {
      return e.what();
    }
    return "no error";
  };
  CHECK(message([&] { attend_heads(q, k, v, {.heads = 3}); }).find("heads = 3") != std::string::npos);
  CHECK_THROWS_AS(attend_heads(q, Var(randn({4, 4, 3}, 1)), v, {.heads = 2}), ShapeError);
  CHECK_THROWS_AS(attend_heads(q, k, Var(randn({4, 5, 3}, 1)), {.heads = 2}), ShapeError);
  CHECK_THROWS_AS(attend_heads(q, k, Var(in[2].to(DType::f32)), {.heads = 2}), DTypeError);
  const std::string mask = message([&] { attend_heads(q, k, v, {.heads = 2, .blocked = causal(3, 5)}); });
  CHECK(mask.find("blocked [3, 5]") != std::string::npos);
  CHECK(mask.find("[4, 3, 4]") != std::string::npos);
  CHECK_THROWS_AS(attend_heads(q, k, v, {.heads = 2, .added = randn({2, 3, 4}, 1)}), ShapeError);
  CHECK_THROWS_AS(attend_heads(q, k, v, {.heads = 2, .dropout = 1.5}), Error);
}

namespace {

// qkv's column block `which` (0 queries, 1 keys, 2 values) [B, L, E], split into heads
// [B * heads, L, d] for keys and values as attend_heads takes them.
Var block_of(const Var& qkv, std::size_t which, std::size_t heads) {
  const std::size_t b = qkv.shape()[0], l = qkv.shape()[1], e = qkv.shape()[2] / 3, d = e / heads;
  Var part = slice(qkv, 2, static_cast<long>(which * e), static_cast<long>((which + 1) * e));
  if (which == 0) return part;
  return permute(part, Shape{b, l, heads, d}, {0, 2, 1, 3}, Shape{b * heads, l, d});
}

}  // namespace

TEST_CASE("self_attend_heads passes gradcheck and equals attend_heads on its three blocks") {
  struct Case {
    std::size_t batch, heads, l, d;
  };
  for (Case z : {Case{2, 2, 3, 2}, Case{1, 1, 1, 1}, Case{3, 4, 1, 1}, Case{1, 1, 4, 3}}) {
    CAPTURE(z.batch);
    CAPTURE(z.heads);
    CAPTURE(z.l);
    const Shape shape{z.batch, z.l, 3 * z.heads * z.d};
    HeadAttentionOptions o{.heads = z.heads, .scale_divisor = std::sqrt(double(z.d)), .blocked = causal(z.l, z.l)};
    expect_gradcheck([&](const std::vector<Var>& v) { return self_attend_heads(v[0], o); }, {randn(shape, 1)});
    o.added = randn({z.l, z.l}, 2);
    o.dropout = 0.25;
    o.training = true;
    for (DType dtype : {DType::f64, DType::f32}) {
      Var packed(randn(shape, 3).to(dtype), true), apart(randn(shape, 3).to(dtype), true);
      HeadAttentionOptions typed = o;
      typed.added = o.added.to(dtype);
      Generator packed_gen(4), apart_gen(4);
      typed.generator = &packed_gen;
      Var y = self_attend_heads(packed, typed);
      typed.generator = &apart_gen;
      Var want =
          attend_heads(block_of(apart, 0, z.heads), block_of(apart, 1, z.heads), block_of(apart, 2, z.heads), typed);
      const double tolerance = dtype == DType::f64 ? 1e-14 : 1e-6;
      CHECK(max_difference(y.value(), want.value()) <= tolerance);
      const Tensor seed = randn(y.shape(), 5).to(dtype);
      y.backward(seed);
      want.backward(seed);
      CHECK(max_difference(packed.grad(), apart.grad()) <= tolerance);
    }
  }
  CHECK_THROWS_AS(self_attend_heads(Var(randn({2, 3, 8}, 1)), {.heads = 2}), ShapeError);
}
