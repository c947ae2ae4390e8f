#include <doctest/doctest.h>

#include <cmath>
#include <string>

#include "ops/check.hpp"
#include "tapegrad/models/dropout.hpp"
#include "tapegrad/models/embedding.hpp"
#include "tapegrad/models/layer_norm.hpp"
#include "tapegrad/models/linear.hpp"
#include "tapegrad/ops/activation.hpp"
#include "tapegrad/ops/elementwise.hpp"
#include "tapegrad/ops/reduce.hpp"

using namespace tg;

namespace {

// Two levels of children: names must join with dots in PyTorch's order.
class Mlp : public Module {
 public:
  struct Options {
    std::size_t in = 3, hidden = 4, out = 2;
  };
  explicit Mlp(const Options& o, Generator& gen = default_generator())
      : options_(o),
        fc1({.in_features = o.in, .out_features = o.hidden}, gen),
        norm({.normalized_shape = o.hidden}),
        fc2({.in_features = o.hidden, .out_features = o.out}, gen),
        drop({.p = 0.5}) {
    register_parameter("scale", scale, Tensor::ones({1}));
    register_module("fc1", fc1);
    register_module("norm", norm);
    register_module("fc2", fc2);
    register_module("drop", drop);
  }
  Var forward(const Var& x) const { return fc2.forward(drop.forward(tanh(norm.forward(fc1.forward(x))))) * scale; }
  const Options& options() const { return options_; }

  Options options_;
  Var scale;
  Linear fc1;
  LayerNorm norm;
  Linear fc2;
  Dropout drop;
};

}  // namespace

TEST_CASE("Module: dotted names in PyTorch's order, counts, Var names") {
  manual_seed(1);
  Mlp m({});
  std::vector<std::string> names;
  for (const auto& p : m.named_parameters()) names.push_back(p.name);
  std::vector<std::string> expected = {"scale",     "fc1.weight", "fc1.bias", "norm.weight",
                                       "norm.bias", "fc2.weight", "fc2.bias"};
  CHECK(names == expected);
  CHECK(m.parameter_count() == 1 + 12 + 4 + 4 + 4 + 8 + 2);
  CHECK(m.fc1.weight.name() == "fc1.weight");
  CHECK(m.fc1.weight.requires_grad());
  CHECK(m.type_name() == "(anonymous namespace)::Mlp");
  CHECK(m.fc1.type_name() == "tg::Linear");
}

TEST_CASE("Module: train/eval reach every child") {
  Mlp m({});
  CHECK(m.drop.is_training());
  m.eval();
  CHECK_FALSE(m.fc1.is_training());
  CHECK_FALSE(m.drop.is_training());
  Var x(Tensor::ones({2, 4}));
  CHECK(m.drop.forward(x).value().to_vector() == x.value().to_vector());
  m.train();
  CHECK(m.drop.is_training());
}

TEST_CASE("Module: seeded initialisation is reproducible and follows PyTorch's bounds") {
  manual_seed(7);
  Linear a({.in_features = 16, .out_features = 5});
  manual_seed(7);
  Linear b({.in_features = 16, .out_features = 5});
  CHECK(a.weight.value().to_vector() == b.weight.value().to_vector());
  for (double w : a.weight.value().to_vector()) CHECK(std::abs(w) <= 0.25);
  Linear c({.in_features = 16, .out_features = 5});
  CHECK(a.weight.value().to_vector() != c.weight.value().to_vector());
}

TEST_CASE("Module: state_dict round trip; strict and non-strict loads; all or nothing") {
  manual_seed(1);
  Mlp a({});
  manual_seed(2);
  Mlp b({});
  b.load_state_dict(a.state_dict());
  CHECK(b.fc2.weight.value().to_vector() == a.fc2.weight.value().to_vector());

  StateDict partial = a.state_dict();
  partial.erase(partial.begin());  // drops "scale"
  partial.push_back({"extra.weight", Tensor::zeros({1})});
  Tensor before = b.fc1.weight.value();
  try {
    b.load_state_dict(partial);
    FAIL("expected an error");
  } catch (const Error& e) {
    std::string msg = e.what();
    CHECK(msg.find("missing keys: scale") != std::string::npos);
    CHECK(msg.find("unexpected keys: extra.weight") != std::string::npos);
  }
  LoadResult r = b.load_state_dict(partial, {.strict = false});
  CHECK(r.missing_keys == std::vector<std::string>{"scale"});
  CHECK(r.unexpected_keys == std::vector<std::string>{"extra.weight"});

  manual_seed(3);
  Mlp c({});
  Tensor c_fc1 = c.fc1.weight.value();
  StateDict wrong = a.state_dict();
  wrong.back().value = Tensor::zeros({3});  // fc2.bias should be [2]
  try {
    c.load_state_dict(wrong);
    FAIL("expected an error");
  } catch (const Error& e) {
    CHECK(std::string(e.what()).find("'fc2.bias': expected float32 [2], got float32 [3]") != std::string::npos);
  }
  CHECK(c.fc1.weight.value().to_vector() == c_fc1.to_vector());  // untouched
  // Another dtype is converted, as PyTorch's copy_ does, unless strict_dtype refuses it.
  StateDict wider = a.state_dict();
  wider[1].value = wider[1].value.to(DType::f64);
  for (std::size_t i = 0; i < wider[1].value.size(); ++i) wider[1].value.set(i, wider[1].value.at(i) * (1 + 1e-12));
  try {
    c.load_state_dict(wider, {.strict_dtype = true});
    FAIL("expected an error");
  } catch (const Error& e) {
    CHECK(std::string(e.what()).find("'" + wider[1].name + "': expected float32") != std::string::npos);
  }
  CHECK(c.fc1.weight.value().to_vector() == c_fc1.to_vector());  // untouched
  c.load_state_dict(wider);
  const std::vector<NamedVar> loaded = c.named_parameters();
  const NamedVar& converted = loaded[1];
  CHECK(converted.var.dtype() == DType::f32);
  CHECK(converted.var.value().to_vector() == a.named_parameters()[1].var.value().to_vector());  // rounded back
}

TEST_CASE("Module: copy_as makes an independent float64 twin; to() converts in place") {
  manual_seed(4);
  Mlp a({});
  auto b = copy_as(a, DType::f64);
  CHECK(b->dtype() == DType::f64);
  CHECK(a.dtype() == DType::f32);
  CHECK(b->fc1.weight.value().to(DType::f32).to_vector() == a.fc1.weight.value().to_vector());
  b->fc1.weight.mutable_value().set(0, 100.0);
  CHECK(a.fc1.weight.value().at(0) != 100.0);
  Var handle = a.fc1.weight;
  a.to(DType::f64);
  CHECK(handle.dtype() == DType::f64);
}

TEST_CASE("Module: share_parameters makes a replica compute with the very same parameters; all or nothing") {
  manual_seed(5);
  Mlp a({}), b({});
  CHECK(b.fc1.weight.value().to_vector() != a.fc1.weight.value().to_vector());
  b.share_parameters(a);
  const auto mine = b.named_parameters(), theirs = a.named_parameters();
  REQUIRE(mine.size() == theirs.size());
  for (std::size_t i = 0; i < mine.size(); ++i) {
    CHECK(mine[i].name == theirs[i].name);
    CHECK(mine[i].var.node() == theirs[i].var.node());
  }
  a.fc2.bias.mutable_value().set(0, 42.0);  // one value, seen by both
  CHECK(b.fc2.bias.value().at(0) == 42.0);

  Mlp wider({.in = 3, .hidden = 5, .out = 2});
  Var before = wider.fc2.weight;
  CHECK_THROWS_WITH_AS(wider.share_parameters(a),
                       "(anonymous namespace)::Mlp::share_parameters: nothing was shared; 'fc1.weight': float32 [5, 3] "
                       "here, float32 [4, 3] "
                       "in the source; 'fc1.bias': float32 [5] here, float32 [4] in the source; 'norm.weight': float32 "
                       "[5] here, float32 [4] in the source; 'norm.bias': float32 [5] here, float32 [4] in the source; "
                       "'fc2.weight': float32 [2, 5] here, float32 [2, 4] in the source",
                       Error);
  CHECK(wider.fc2.weight.node() == before.node());
  Linear lone({.in_features = 4, .out_features = 2});
  CHECK_THROWS_WITH_AS(lone.share_parameters(a),
                       "tg::Linear::share_parameters: nothing was shared; 'weight': not in the source; 'bias': not in "
                       "the source; 'scale': only in the source; 'fc1.weight': only in the source; 'fc1.bias': only in "
                       "the source; 'norm.weight': only in the source; 'norm.bias': only in the source; 'fc2.weight': "
                       "only in the source; 'fc2.bias': only in the source",
                       Error);
}

TEST_CASE("Embedding: padding row starts at zero and never receives gradient") {
  manual_seed(5);
  Embedding emb({.num_embeddings = 5, .embedding_dim = 3, .padding_idx = -1});  // row 4
  CHECK(emb.padding_idx() == 4);
  for (int e = 0; e < 3; ++e) CHECK(emb.weight.value().at(12 + e) == 0.0);
  Indices ids = {{1, 4, 4}, {2, 1, 0}};
  Var y = emb.forward(ids);
  CHECK(y.shape() == Shape{2, 3, 3});
  sum(square(y + 1.0)).backward();
  for (int e = 0; e < 3; ++e) {
    CHECK(emb.weight.grad().at(12 + e) == 0.0);
    CHECK(emb.weight.grad().at(3 + e) != 0.0);
  }
  CHECK_THROWS_AS(Embedding({.num_embeddings = 5, .embedding_dim = 3, .padding_idx = 5}), IndexError);
}

TEST_CASE("LayerNorm: zero mean, unit variance, PyTorch's eps; gradcheck") {
  LayerNorm ln({.normalized_shape = 4});
  Var x(Tensor::from_vector({1, 2, 3, 4, -1, 0, 0, 1}, {2, 4}));
  std::vector<double> y = ln.forward(x).value().to_vector();
  // (1 - 2.5) / sqrt(1.25 + 1e-5)
  CHECK(y[0] == doctest::Approx(-1.5 / std::sqrt(1.25 + 1e-5)).epsilon(1e-6));
  auto ln64 = copy_as(ln, DType::f64);
  ln64->weight.mutable_value() = test::randn({4}, 1);
  ln64->bias.mutable_value() = test::randn({4}, 2);
  for (Shape shape : {Shape{2, 4}, Shape{3, 1, 4}, Shape{4}}) {
    GradcheckReport r =
        gradcheck(*ln64, [&](const std::vector<Var>& xs) { return ln64->forward(xs[0]); }, {test::randn(shape, 3)});
    INFO(r.message());
    CHECK(r.passed);
  }
  CHECK_THROWS_AS(ln.forward(Var(Tensor::zeros({2, 3}))), ShapeError);
}

TEST_CASE("Linear, Embedding, Dropout, a composite module: gradcheck over every parameter") {
  manual_seed(6);
  Mlp m({});
  m.eval();
  auto m64 = copy_as(m, DType::f64);
  GradcheckReport r =
      gradcheck(*m64, [&](const std::vector<Var>& xs) { return m64->forward(xs[0]); }, {test::randn({5, 3}, 1)});
  INFO(r.message());
  CHECK(r.passed);
  CHECK(r.elements_checked == m.parameter_count() + 15);
  // The module's own parameters are back after the check.
  CHECK(m64->fc1.weight.name() == "fc1.weight");
  CHECK(m64->parameters()[1].node() == m64->fc1.weight.node());

  Linear fc({.in_features = 3, .out_features = 2, .bias = false, .dtype = DType::f64});
  CHECK(fc.named_parameters().size() == 1);
  r = gradcheck(fc, [&](const std::vector<Var>& xs) { return fc.forward(xs[0]); }, {test::randn({2, 4, 3}, 2)});
  CHECK(r.passed);

  Embedding emb({.num_embeddings = 4, .embedding_dim = 2, .padding_idx = 0, .dtype = DType::f64});
  Indices ids = {{0, 1}, {3, 3}};
  r = gradcheck(emb, [&](const std::vector<Var>&) { return emb.forward(ids); });
  CHECK_FALSE(r.passed);  // the padding row's true derivative is not zero: the check must see that
  r = gradcheck(emb, [&](const std::vector<Var>&) { return emb.forward(Indices{{2, 1}, {3, 3}}); });
  CHECK(r.passed);

  Linear f32({.in_features = 3, .out_features = 2});
  CHECK_THROWS_AS(
      gradcheck(f32, [&](const std::vector<Var>& xs) { return f32.forward(xs[0]); }, {test::randn({2, 3}, 1)}),
      DTypeError);
}

TEST_CASE("Dropout draws from the default generator: seeded, and a training copy keeps working") {
  Dropout drop({.p = 0.5});
  Var x(Tensor::ones({64}));
  manual_seed(9);
  std::vector<double> a = drop.forward(x).value().to_vector();
  manual_seed(9);
  CHECK(drop.forward(x).value().to_vector() == a);
  std::size_t zeros = 0;
  for (double v : a) zeros += v == 0.0;
  CHECK(zeros > 10);
  CHECK(zeros < 54);
  // copy_as builds the copy with a scratch generator that dies at its return: nothing may keep it.
  Mlp m({});
  auto copy = copy_as(m, DType::f64);
  CHECK(copy->drop.is_training());
  CHECK(copy->forward(Var(test::randn({4, 3}, 1))).shape() == Shape{4, 2});
}
