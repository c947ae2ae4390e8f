#include <doctest/doctest.h>

#include <cmath>
#include <limits>

#include "tapegrad.hpp"

using namespace tg;

namespace {
Tensor vec(std::vector<double> v, DType dt = DType::f64) {
  Shape s{v.size()};
  return Tensor::from_vector(v, s, dt);
}
}  // namespace

TEST_CASE("backward accumulates into leaves until zero_grad") {
  Var x(vec({1, 2, 3}), true);
  Var y = x * x;  // dy/dx = 2x
  y.backward(Tensor::ones({3}, DType::f64), /*retain_graph=*/true);
  CHECK(x.grad().to_vector() == std::vector<double>{2, 4, 6});
  y.backward(Tensor::ones({3}, DType::f64));
  CHECK(x.grad().to_vector() == std::vector<double>{4, 8, 12});
  x.zero_grad();
  CHECK_FALSE(x.grad().defined());
}

TEST_CASE("a value used twice gets both gradients") {
  Var x(vec({3}), true);
  Var y = x * x + x;  // 2x + 1 = 7
  y.backward();
  CHECK(x.grad().item() == 7);
}

TEST_CASE("backward on a non-scalar without a seed names the shape") {
  Var x(vec({1, 2}), true);
  Var y = x * 2.0;
  CHECK_THROWS_WITH_AS(y.backward(), doctest::Contains("[2]"), BackwardError);
  CHECK_THROWS_WITH_AS(y.backward(Tensor::ones({3}, DType::f64)), doctest::Contains("seed"), BackwardError);
}

TEST_CASE("a second backward through a freed graph is a clear error; retain_graph allows it") {
  Var x(vec({2}), true);
  Var y = exp(x) * x;
  y.backward();
  CHECK_THROWS_WITH_AS(y.backward(), doctest::Contains("retain_graph"), BackwardError);

  Var z = exp(x) * x;
  x.zero_grad();
  z.backward(/*retain_graph=*/true);
  Tensor first = x.grad();
  x.zero_grad();
  z.backward();
  CHECK(x.grad().to_vector() == first.to_vector());  // bitwise equal
}

TEST_CASE("backward on a value that does not require grad is an error") {
  Var x(vec({1}));
  CHECK_THROWS_AS((x * 2.0).backward(), BackwardError);
}

TEST_CASE("NoGradGuard records nothing") {
  Tape tape;
  UseTape use(tape);
  Var x(vec({1, 2}), true);
  {
    NoGradGuard no_grad;
    Var y = x * x;
    CHECK_FALSE(y.requires_grad());
    CHECK(tape.size() == 0);
  }
  Var y = x * x;
  CHECK(y.requires_grad());
  CHECK(tape.size() == 1);
}

TEST_CASE("detach cuts the graph") {
  Var x(vec({2}), true);
  Var d = (x * x).detach();
  CHECK(d.is_leaf());
  CHECK_FALSE(d.requires_grad());
  Var y = d * x;  // only the direct path counts: dy/dx = d = 4
  y.backward();
  CHECK(x.grad().item() == 4);
}

TEST_CASE("a zero upstream gradient gives exactly zero gradients") {
  Var x(vec({0.3, -1.2, 2.0}), true);
  Var y = tanh(exp(x) * x) / (x * x + 1.0);
  y.backward(Tensor::zeros({3}, DType::f64));
  for (double g : x.grad().to_vector()) CHECK(g == 0.0);
}

TEST_CASE("values from before a reset cannot be differentiated through") {
  Tape tape;
  UseTape use(tape);
  Var x(vec({2}), true);
  Var y = x * x;
  tape.reset();
  CHECK_THROWS_WITH_AS(y.backward(), doctest::Contains("reset"), BackwardError);
  CHECK_THROWS_WITH_AS(y * x, doctest::Contains("detach()"), Error);
  Var carried = y.detach() * x;  // detach carries the value over
  carried.backward();
  CHECK(x.grad().item() == 4);
}

TEST_CASE("name scopes nest and are recorded on tape entries") {
  Tape tape;
  UseTape use(tape);
  Var x(vec({1}), true);
  {
    NameScope encoder("encoder");
    NameScope lstm("lstm");
    Var y = x * 2.0;
    CHECK(scope_name(current_scope()) == "encoder/lstm");
    CHECK(scope_name(tape.entry(tape.size() - 1).scope) == "encoder/lstm");
    CHECK(scope_name(parent_scope(current_scope())) == "encoder");
  }
  CHECK(current_scope() == 0);
  for (int step = 0; step < 3; ++step) {
    NameScope s("decoder");
    CHECK(current_scope_instance() == static_cast<std::uint32_t>(step));
  }
}

TEST_CASE("anomaly mode stops at the first op producing NaN or inf and names it") {
  Var x(vec({0.0, 1.0}), true);
  {
    AnomalyMode anomaly;
    NameScope scope("loss");
    CHECK_THROWS_WITH_AS(log(x), doctest::Contains("op 'log' in scope 'loss'"), AnomalyError);
    CHECK_THROWS_WITH_AS(log(x), doctest::Contains("[2] float64"), AnomalyError);
    Var s = sqrt(x);  // sqrt(0) = 0 is fine forward, its gradient at 0 is inf
    CHECK_THROWS_WITH_AS(s.backward(Tensor::ones({2}, DType::f64)), doctest::Contains("backward of op 'sqrt'"),
                         AnomalyError);
    Var s2 = sqrt(x);
    CHECK_THROWS_WITH_AS(s2.backward(Tensor::ones({2}, DType::f64)),
                         doctest::Contains("inf in the gradient of input 0; inputs: [2] float64"), AnomalyError);
  }
  Var quiet = log(x);  // without anomaly mode -inf is just a value
  CHECK(std::isinf(quiet.value().at(0)));
}

TEST_CASE("empty tensors flow through elementwise ops and backward") {
  Var x(Tensor::zeros({0, 3}, DType::f64), true);
  Var y = exp(x) * 2.0;
  CHECK(y.shape() == Shape{0, 3});
  y.backward(Tensor::zeros({0, 3}, DType::f64));
  CHECK(x.grad().shape() == Shape{0, 3});
}

TEST_CASE("rank-0 tensors work as scalars") {
  Var x(Tensor::scalar(3.0, DType::f64), true);
  Var y = x * x;
  y.backward();
  CHECK(x.grad().item() == 6);
}

TEST_CASE("a reset tape reuses its memory: no growth between step 2 and step 1000") {
  Tape tape;
  UseTape use(tape);
  Var w = Var::parameter(Tensor::normal({8, 8}, 0, 0.1, 7), "w");
  Var b = Var::parameter(Tensor::zeros({8}), "b");
  Tensor x = Tensor::normal({4, 8}, 0, 1, 8);
  auto step = [&] {
    tape.reset();
    w.zero_grad();
    b.zero_grad();
    Var h = tanh(Var(x) * w.value().shape()[0] + b);
    Var y = sigmoid(h * h) - 0.5;
    y.backward(Tensor::ones(y.shape()));
    w.mutable_value().add_(Tensor::full(w.shape(), 0.0));
  };
  step();
  step();
  MemoryStats after_two = memory_stats();
  std::size_t tape_after_two = tape.reserved_bytes();
  for (int i = 0; i < 998; ++i) step();
  CHECK(memory_stats().bytes_reserved == after_two.bytes_reserved);
  CHECK(memory_stats().fresh_allocations == after_two.fresh_allocations);
  CHECK(tape.reserved_bytes() == tape_after_two);
}

TEST_CASE("tensors convert between dtypes and report bad indices") {
  Tensor t = vec({1.5, 2.5}, DType::f32);
  CHECK(t.to(DType::f64).dtype() == DType::f64);
  CHECK(t.to(DType::f64).to_vector() == std::vector<double>{1.5, 2.5});
  CHECK_THROWS_WITH_AS(t.at(2), doctest::Contains("flat index 2"), IndexError);
  CHECK_THROWS_AS(Tensor::from_vector({1, 2, 3}, {2, 2}), ShapeError);
}

TEST_CASE("a broadcast op with an empty result sends zero gradients to its operands") {
  Var a(Tensor::ones({1}, DType::f64), true), b(Tensor::zeros({0}, DType::f64), true);
  Var y = a + b;
  CHECK(y.shape() == Shape{0});
  y.backward(Tensor::zeros({0}, DType::f64));
  CHECK(a.grad().shape() == Shape{1});
  CHECK(a.grad().item() == 0.0);
}

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>

// The pool keeps freed blocks instead of returning them to malloc, which would
// hide a use after free from ASan: it poisons them itself.
TEST_CASE("under AddressSanitizer, cached pool blocks and a block's slack are poisoned") {
  auto* block = static_cast<char*>(pool::allocate(100));  // a 128-byte class
  CHECK_FALSE(__asan_address_is_poisoned(block));
  CHECK_FALSE(__asan_address_is_poisoned(block + 99));
  CHECK(__asan_address_is_poisoned(block + 104));
  pool::deallocate(block, 100);
  CHECK(__asan_address_is_poisoned(block));
  auto* again = static_cast<char*>(pool::allocate(128));
  CHECK(again == block);  // the same block, handed out again, addressable again
  CHECK_FALSE(__asan_address_is_poisoned(again + 127));
  pool::deallocate(again, 128);
}
#endif

namespace {
// End-of-pass work that counts its runs and what the gradients held when it ran.
struct CountingPassEnd final : PassEnd {
  static inline int made = 0, finished = 0, dropped = 0;
  static inline double grad_seen = -1;
  static inline Var* watched = nullptr;
  CountingPassEnd() { ++made; }
  ~CountingPassEnd() override { ++dropped; }
  void finish() override {
    ++finished;
    grad_seen = watched->grad().defined() ? watched->grad().item() : -1;
  }
};

Tensor times_three(const Tensor& t) {
  std::vector<double> v = t.to_vector();
  for (double& e : v) e *= 3;
  return Tensor::from_vector(v, t.shape(), t.dtype());
}

// y = 3 x, whose backward also asks for this pass's CountingPassEnd (and may throw).
Var scale_with_pass_end(const Var& x, bool fail) {
  return record("scale_with_pass_end", {x}, times_three(x.value()), [fail](BackwardContext& c) {
    c.at_pass_end<CountingPassEnd>();
    if (fail) throw BackwardError("scale_with_pass_end failed on purpose");
    c.grad_input(0) = times_three(c.grad_output());
  });
}
}  // namespace

TEST_CASE("end-of-pass work: one per type and pass, finished after every op's backward, dropped either way") {
  Var x(vec({2}), true);
  CountingPassEnd::watched = &x;
  CountingPassEnd::made = CountingPassEnd::finished = CountingPassEnd::dropped = 0;
  // Three uses ask for it three times: one object, finished once, when x's gradient is complete.
  Var y = scale_with_pass_end(x, false) + scale_with_pass_end(x, false) * scale_with_pass_end(x, false);
  y.backward();  // dy/dx = 3 + 2 * 9 x = 39
  CHECK(CountingPassEnd::made == 1);
  CHECK(CountingPassEnd::finished == 1);
  CHECK(CountingPassEnd::dropped == 1);
  CHECK(CountingPassEnd::grad_seen == 39);
  // A pass that fails drops its work unfinished, and the next pass starts afresh.
  Var z = scale_with_pass_end(x, true);
  CHECK_THROWS_WITH_AS(z.backward(), doctest::Contains("on purpose"), BackwardError);
  CHECK(CountingPassEnd::made == 2);
  CHECK(CountingPassEnd::finished == 1);
  CHECK(CountingPassEnd::dropped == 2);
  // The failed pass's gradients on its intermediate values are gone: a later backward on the
  // same tape does not run the failed op's backward again.
  x.zero_grad();
  scale_with_pass_end(x, false).backward();
  CHECK(CountingPassEnd::made == 3);
  CHECK(CountingPassEnd::finished == 2);
  CHECK(CountingPassEnd::grad_seen == 3);
  CountingPassEnd::watched = nullptr;
}

TEST_CASE("LeafGradients: a thread's backward puts the gradients of the leaves it holds into its own slots") {
  // w is used by an op that adds into a gathered gradient in place (slice) and by one that
  // returns its gradient (mul); b is not held and keeps the usual path.
  auto loss = [](const Var& w, const Var& b) {
    Var first = slice(w, 0, 0, 2, 1), second = slice(w, 0, 1, 3, 1);
    return sum(first * second) + sum(w * w) + sum(b * w);
  };
  Var w(vec({1, 2, 3}), true), b(vec({0.5, -1, 2}), true);
  loss(w, b).backward();
  const std::vector<double> expected_w = w.grad().to_vector(), expected_b = b.grad().to_vector();
  w.zero_grad();
  b.zero_grad();

  LeafGradients own({w});
  CHECK(own.size() == 1);
  {
    UseLeafGradients use(own);
    loss(w, b).backward();
    loss(w, b).backward();  // accumulates in the slot, as in a node
  }
  CHECK_FALSE(w.grad().defined());
  REQUIRE(own.grad(0).defined());
  std::vector<double> twice = expected_w;
  for (double& g : twice) g *= 2;
  CHECK(own.grad(0).to_vector() == twice);
  std::vector<double> b_twice = expected_b;
  for (double& g : b_twice) g *= 2;
  CHECK(b.grad().to_vector() == b_twice);

  // Uninstalled: back to the node. A leaf as the root of backward goes to its slot too.
  own.clear();
  CHECK_FALSE(own.grad(0).defined());
  loss(w, b).backward();
  CHECK(w.grad().to_vector() == expected_w);
  {
    UseLeafGradients use(own);
    w.backward(Tensor::ones({3}, DType::f64));
  }
  CHECK(own.grad(0).to_vector() == std::vector<double>{1, 1, 1});

  Var x(vec({1}), true);
  Var y = x * x;
  CHECK_THROWS_WITH_AS(LeafGradients({w, y}), "LeafGradients: entry 1 is not a leaf", Error);
  CHECK_THROWS_WITH_AS(LeafGradients({w, x, w}), "LeafGradients: entries 0 and 2 are the same leaf", Error);
}

namespace {
// Runs `f` and returns the message of the BackwardError it throws ("" when it throws none).
template <class F>
std::string backward_error(F&& f) {
  try {
    f();
  } catch (const BackwardError& e) {
    return e.what();
  }
  return "";
}
}  // namespace

TEST_CASE("a value changed between forward and backward is an error naming the op, its scope and the input") {
  Var x(vec({1, 2, 3}), true);
  Var y;
  {
    NameScope scope("layer");
    y = sum(x * x);
  }
  // Without the check the backward read the new values: [20, 20, 20] instead of [2, 4, 6].
  x.mutable_value().fill(10);
  const std::string message = backward_error([&] { y.backward(); });
  CHECK(message.find("op 'mul' in scope 'layer'") != std::string::npos);
  CHECK(message.find("input 0 ([3] float64)") != std::string::npos);
  CHECK(message.find("version 0 then, 1 now") != std::string::npos);
  CHECK_FALSE(x.grad().defined());
}

TEST_CASE("a parameter replaced by a value of another shape before backward is an error, not heap corruption") {
  Var w = Var::parameter(Tensor::ones({4, 3}, DType::f64), "w");
  Var x(Tensor::ones({2, 4}, DType::f64));
  Var loss = sum(tanh(matmul(x, w)));
  w.mutable_value() = Tensor::ones({5, 7}, DType::f64);
  const std::string message = backward_error([&] { loss.backward(); });
  CHECK(message.find("op 'matmul'") != std::string::npos);
  CHECK(message.find("input 1 'w' ([5, 7] float64)") != std::string::npos);
}

TEST_CASE("an input that needs no gradient is checked too: the backward of mul reads it") {
  Var w(vec({1, 2}), true);
  Var c(vec({3, 4}));
  Var y = sum(w * c);
  c.mutable_value().fill(0);
  CHECK(backward_error([&] { y.backward(); }).find("input 1 ([2] float64)") != std::string::npos);
}

TEST_CASE("an op's output changed before backward is an error: tanh's backward reads its output") {
  Var x(vec({0.5, -0.5}), true);
  Var h = tanh(x);
  h.mutable_value().fill(0);
  CHECK(backward_error([&] {
          h.backward(Tensor::ones({2}, DType::f64));
        }).find("backward of op 'tanh': its output ([2] float64)") != std::string::npos);
  // As the input of a later op, the later op's backward is the first to see the change.
  Var y = sum(tanh(x));
  Var h2 = tanh(x);
  Var z = sum(h2);
  h2.mutable_value().fill(0);
  CHECK(backward_error([&] { z.backward(); }).find("backward of op 'sum': input 0") != std::string::npos);
  y.backward();
  CHECK(x.grad().defined());
}

TEST_CASE("values may change after backward: optimizer steps, and a new forward records the new versions") {
  Var w(vec({1, 2, 3}), true);
  Sgd sgd({w}, {.lr = 0.5});
  for (int step = 0; step < 3; ++step) {
    const std::vector<double> before = w.value().to_vector();
    w.zero_grad();
    Var loss = sum(w * w);
    loss.backward();
    for (std::size_t i = 0; i < 3; ++i) CHECK(w.grad().at(i) == 2 * before[i]);
    sgd.step();
  }
  CHECK(w.version() == 3);
  // With retain_graph, a change between two backward passes is caught in the second.
  Var loss = sum(w * w);
  loss.backward(/*retain_graph=*/true);
  w.mutable_value().fill(1);
  CHECK_FALSE(backward_error([&] { loss.backward(); }).empty());
}

TEST_CASE("an undefined Var is an Error wherever it is used, never a null dereference") {
  Var undefined;
  const std::string message = "an undefined Var (default-constructed, never assigned) was used";
  CHECK_THROWS_WITH_AS(undefined.value(), message.c_str(), Error);
  CHECK_THROWS_WITH_AS(undefined.mutable_value(), message.c_str(), Error);
  CHECK_THROWS_AS(undefined.shape(), Error);
  CHECK_THROWS_AS(undefined.grad(), Error);
  CHECK_THROWS_AS(undefined.requires_grad(), Error);
  CHECK_THROWS_AS(undefined.name(), Error);
  CHECK_THROWS_AS(undefined.is_leaf(), Error);
  CHECK_THROWS_AS(undefined.zero_grad(), Error);
  CHECK_THROWS_AS(undefined.version(), Error);
  CHECK_THROWS_AS(undefined.detach(), Error);
  CHECK_THROWS_AS(undefined.set_requires_grad(true), Error);
  CHECK_THROWS_AS(undefined.backward(), BackwardError);
}

namespace {
// What a GradientReadyListener was told, in order: each leaf's name, its gradient then
// (empty when undefined), and how many ops' backwards had run by then.
struct ReadyLog final : GradientReadyListener {
  struct Told {
    std::string name;
    std::vector<double> grad;
    int backwards_run = 0;
  };
  std::vector<Told> told;
  int* backwards_run = nullptr;
  void gradient_ready(const Var& leaf, Tensor& grad) override {
    told.push_back({leaf.node()->name, grad.defined() ? grad.to_vector() : std::vector<double>{},
                    backwards_run != nullptr ? *backwards_run : 0});
  }
};

// y = 2x, counting the backwards that have run.
Var counted_double(const Var& x, int& backwards_run) {
  return record("counted_double", {x}, Tensor(Array<double>(x.value().array<double>() * 2.0)),
                [&backwards_run](BackwardContext& c) {
                  ++backwards_run;
                  c.grad_input(0) = Tensor(Array<double>(c.grad_output().array<double>() * 2.0));
                });
}

Var named_leaf(std::vector<double> v, const char* name) {
  Var leaf(vec(std::move(v)), true);
  leaf.node()->name = name;
  return leaf;
}
}  // namespace

TEST_CASE("a GradientReadyListener hears of each leaf once, when its gradient is complete, latest-used first") {
  current_tape().reset();
  int backwards_run = 0;
  Var early = named_leaf({1, 2}, "early"), late = named_leaf({3, 4}, "late"), twice = named_leaf({0.5, 1}, "twice");
  Var unreached = named_leaf({7, 7}, "unreached"), frozen(vec({1, 1}), false);
  // early feeds the first op; twice the first and the last; late only the last three.
  Var a = counted_double(early * twice, backwards_run);
  Var dead = unreached * frozen;  // on the tape, but the loss does not depend on it
  Var b = counted_double(a + late, backwards_run);
  Var loss = sum(counted_double(b * late, backwards_run) * twice);
  ReadyLog log;
  log.backwards_run = &backwards_run;
  {
    ListenGradientReady listen(log);
    loss.backward();
  }
  // unreached's op is on the tape, but the pass does not run its backward.
  REQUIRE(log.told.size() == 3);
  // late's earliest use (a + late) comes after the ops of early and twice.
  CHECK(log.told[0].name == "late");
  CHECK(log.told[0].backwards_run == 2);  // the first op's backward has not run yet
  // early and twice share their earliest op, the first on the tape: told after every backward.
  CHECK(log.told[1].backwards_run == 3);
  CHECK(log.told[2].backwards_run == 3);
  const bool early_first = log.told[1].name == "early";
  const ReadyLog::Told& told_early = log.told[early_first ? 1 : 2];
  const ReadyLog::Told& told_twice = log.told[early_first ? 2 : 1];
  CHECK(told_early.name == "early");
  CHECK(told_twice.name == "twice");
  // What each heard was its whole gradient.
  CHECK(log.told[0].grad == late.grad().to_vector());
  CHECK(told_early.grad == early.grad().to_vector());
  CHECK(told_twice.grad == twice.grad().to_vector());
  CHECK_FALSE(unreached.grad().defined());

  // A listener hears of a leaf root; uninstalled, it hears nothing.
  {
    ListenGradientReady listen(log);
    early.backward(Tensor::ones({2}, DType::f64));
  }
  REQUIRE(log.told.size() == 4);
  CHECK(log.told[3].name == "early");
  sum(early * late).backward();
  CHECK(log.told.size() == 4);
  // Leaves of an earlier graph on the same tape are not told of by a later pass.
  {
    ListenGradientReady listen(log);
    sum(late * late).backward();
  }
  REQUIRE(log.told.size() == 5);
  CHECK(log.told[4].name == "late");
}

TEST_CASE("a GradientReadyListener is given the thread's LeafGradients slot") {
  Var w = named_leaf({1, 2, 3}, "w");
  LeafGradients own({w});
  ReadyLog log;
  {
    UseLeafGradients use(own);
    ListenGradientReady listen(log);
    sum(w * w).backward();
  }
  REQUIRE(log.told.size() == 1);
  CHECK(log.told[0].grad == std::vector<double>{2, 4, 6});
  CHECK_FALSE(w.grad().defined());
}
