#include <doctest/doctest.h>

#include <cmath>
#include <memory>
#include <string>
#include <tuple>
#include <type_traits>

#include "fixtures.hpp"
#include "ops/check.hpp"

using namespace tg;
using tg::test::randn;

namespace {

// sum(y * w) for a fixed random w: a scalar that depends on every element of y.
Var weigh(const Var& y, std::uint64_t seed) { return sum(y * Var(randn(y.shape(), seed))); }

template <class M>
void check_layer_gradients(const RNNOptions& options, const std::vector<std::int64_t>& lengths, bool with_state) {
  manual_seed(3);
  M m(options);
  const std::size_t T = 4, B = lengths.empty() ? 2 : lengths.size(), D = options.bidirectional ? 2 : 1;
  Shape in = options.batch_first ? Shape{B, T, options.input_size} : Shape{T, B, options.input_size};
  std::vector<Tensor> inputs = {randn(in, 1)};
  if (with_state) {
    inputs.push_back(randn({options.num_layers * D, B, options.hidden_size}, 2));
    inputs.push_back(randn({options.num_layers * D, B, options.hidden_size}, 3));
  }
  GradcheckReport r = gradcheck(
      m,
      [&](const std::vector<Var>& xs) {
        RNNState initial;
        if (with_state) initial = {xs[1], std::is_same_v<M, LSTM> ? xs[2] : Var()};
        RNNOutput out = m.forward(xs[0], initial, lengths);
        Var loss = weigh(out.output, 11) + weigh(out.state.h, 12);
        if (out.state.c.defined()) loss = loss + weigh(out.state.c, 13);
        return loss;
      },
      inputs);
  INFO(r.message());
  CHECK(r.passed);
}

}  // namespace

TEST_CASE("LSTM and GRU pass gradcheck: layers, directions, layouts, lengths, initial state") {
  for (bool batch_first : {true, false}) {
    for (bool bidirectional : {false, true}) {
      CAPTURE(batch_first);
      CAPTURE(bidirectional);
      RNNOptions o{.input_size = 3,
                   .hidden_size = 2,
                   .num_layers = 2,
                   .batch_first = batch_first,
                   .bidirectional = bidirectional,
                   .dtype = DType::f64};
      check_layer_gradients<LSTM>(o, {4, 2, 1}, true);
      check_layer_gradients<GRU>(o, {4, 2, 1}, true);
      check_layer_gradients<LSTM>(o, {}, false);
      check_layer_gradients<GRU>(o, {}, false);
    }
  }
  RNNOptions no_bias{.input_size = 2, .hidden_size = 3, .bias = false, .dtype = DType::f64};
  check_layer_gradients<LSTM>(no_bias, {3, 4}, false);
  check_layer_gradients<GRU>(no_bias, {3, 4}, false);
}

TEST_CASE("LSTMCell and GRUCell pass gradcheck, with and without a state") {
  manual_seed(4);
  LSTMCell lstm({.input_size = 3, .hidden_size = 2, .dtype = DType::f64});
  GRUCell gru({.input_size = 3, .hidden_size = 2, .dtype = DType::f64});
  std::vector<Tensor> inputs = {randn({2, 3}, 1), randn({2, 2}, 2), randn({2, 2}, 3)};
  GradcheckReport r = gradcheck(
      lstm,
      [&](const std::vector<Var>& xs) {
        CellState s = lstm.forward(xs[0], {xs[1], xs[2]});
        return weigh(s.h, 5) + weigh(s.c, 6);
      },
      inputs);
  CHECK(r.passed);
  r = gradcheck(lstm, [&](const std::vector<Var>& xs) { return weigh(lstm.forward(xs[0]).h, 5); }, {inputs[0]});
  CHECK(r.passed);
  r = gradcheck(gru, [&](const std::vector<Var>& xs) { return weigh(gru.forward(xs[0], xs[1]), 7); },
                {inputs[0], inputs[1]});
  CHECK(r.passed);
  r = gradcheck(gru, [&](const std::vector<Var>& xs) { return weigh(gru.forward(xs[0]), 7); }, {inputs[0]});
  CHECK(r.passed);
}

namespace {

// Sequence 1 of a batch of 2 has length 2 of T = 4: its steps 2 and 3 must give
// exact zeros, receive exactly zero gradient, and leave the state as after step 1.
template <class M>
void check_padding(bool bidirectional, bool batch_first) {
  manual_seed(5);
  M m({.input_size = 2,
       .hidden_size = 3,
       .num_layers = 2,
       .batch_first = batch_first,
       .bidirectional = bidirectional,
       .dtype = DType::f64});
  const std::size_t width = bidirectional ? 6 : 3, layers = 2, directions = bidirectional ? 2 : 1;
  Tensor data = randn(batch_first ? Shape{2, 4, 2} : Shape{4, 2, 2}, 1);
  // Element j of step t of sequence b in a [*, *, n] tensor of either layout.
  auto at = [&](std::size_t b, std::size_t t, std::size_t j, std::size_t n) {
    return (batch_first ? b * 4 + t : t * 2 + b) * n + j;
  };
  Var x(data, true);
  RNNOutput out = m.forward(x, {}, {4, 2});
  std::vector<double> y = out.output.value().to_vector();
  Var loss = weigh(out.output, 2) + weigh(out.state.h, 3);
  if (out.state.c.defined()) loss = loss + weigh(out.state.c, 4);
  loss.backward();
  std::vector<double> dx = x.grad().to_vector();
  for (std::size_t t = 2; t < 4; ++t) {
    for (std::size_t j = 0; j < width; ++j) CHECK(y[at(1, t, j, width)] == 0.0);
    for (std::size_t j = 0; j < 2; ++j) CHECK(dx[at(1, t, j, 2)] == 0.0);
  }
  CHECK(dx[at(1, 1, 0, 2)] != 0.0);
  CHECK(dx[at(0, 3, 0, 2)] != 0.0);
  // Sequence 1 alone, cut to its 2 steps, gives the same outputs and final state.
  std::vector<double> alone_data;
  for (std::size_t t = 0; t < 2; ++t)
    for (std::size_t j = 0; j < 2; ++j) alone_data.push_back(data.to_vector()[at(1, t, j, 2)]);
  Shape alone_shape = batch_first ? Shape{1, 2, 2} : Shape{2, 1, 2};
  RNNOutput ref = m.forward(Var(Tensor::from_vector(alone_data, alone_shape, DType::f64)));
  for (std::size_t t = 0; t < 2; ++t)
    for (std::size_t j = 0; j < width; ++j)
      CHECK(y[at(1, t, j, width)] == doctest::Approx(ref.output.value().at(t * width + j)).epsilon(1e-12));
  for (std::size_t row = 0; row < layers * directions; ++row) {
    for (std::size_t j = 0; j < 3; ++j) {
      CHECK(out.state.h.value().at(row * 6 + 3 + j) ==
            doctest::Approx(ref.state.h.value().at(row * 3 + j)).epsilon(1e-12));
      if (out.state.c.defined())
        CHECK(out.state.c.value().at(row * 6 + 3 + j) ==
              doctest::Approx(ref.state.c.value().at(row * 3 + j)).epsilon(1e-12));
    }
  }
}

}  // namespace

TEST_CASE("padded steps: zero outputs, no gradient, final state from each sequence's last step") {
  for (bool bidirectional : {false, true}) {
    for (bool batch_first : {false, true}) {
      CAPTURE(bidirectional);
      CAPTURE(batch_first);
      check_padding<LSTM>(bidirectional, batch_first);
      check_padding<GRU>(bidirectional, batch_first);
    }
  }
}

TEST_CASE("dropout acts between layers only, and only while training") {
  manual_seed(6);
  LSTM m({.input_size = 2, .hidden_size = 3, .num_layers = 2, .dropout = 0.5, .dtype = DType::f64});
  Var x(randn({4, 2, 2}, 1));
  m.eval();
  Tensor eval1 = m.forward(x).output.value(), eval2 = m.forward(x).output.value();
  CHECK(eval1.to_vector() == eval2.to_vector());
  m.train();
  Tensor train1 = m.forward(x).output.value(), train2 = m.forward(x).output.value();
  CHECK(train1.to_vector() != eval1.to_vector());
  CHECK(train1.to_vector() != train2.to_vector());
  // One layer: no layer above to drop for, so training changes nothing.
  GRU single({.input_size = 2, .hidden_size = 3, .dropout = 0.5, .dtype = DType::f64});
  Tensor trained = single.forward(x).output.value();
  single.eval();
  CHECK(trained.to_vector() == single.forward(x).output.value().to_vector());
}

TEST_CASE("LSTM and GRU: PyTorch's names, order and shapes") {
  LSTM lstm({.input_size = 3, .hidden_size = 4, .num_layers = 2, .bidirectional = true});
  std::vector<std::string> names;
  for (const auto& p : lstm.named_parameters()) names.push_back(p.name);
  CHECK(names.size() == 16);
  CHECK(names[0] == "weight_ih_l0");
  CHECK(names[4] == "weight_ih_l0_reverse");
  CHECK(names[15] == "bias_hh_l1_reverse");
  CHECK(lstm.parameter("weight_ih_l1").shape() == Shape{16, 8});
  GRU gru({.input_size = 3, .hidden_size = 4});
  CHECK(gru.parameter("weight_hh_l0").shape() == Shape{12, 4});
  CHECK_THROWS_WITH_AS(gru.parameter("weight_hh_l1"), doctest::Contains("no parameter named 'weight_hh_l1'"), Error);
  for (const auto& p : gru.named_parameters())
    for (double v : p.var.value().to_vector()) CHECK(std::abs(v) <= 0.5);  // U(-1/sqrt(4), 1/sqrt(4))
}

TEST_CASE("RNNBase and RecurrentCell: LSTM and GRU, layers and cells, behind one pointer each") {
  static_assert(std::is_abstract_v<RNNBase> && std::is_abstract_v<RecurrentCell>);
  static_assert(gate_count(RecurrentKind::lstm) == 4 && gate_count(RecurrentKind::gru) == 3);
  for (RecurrentKind kind : {RecurrentKind::lstm, RecurrentKind::gru}) {
    const bool lstm = kind == RecurrentKind::lstm;
    CAPTURE(lstm);
    const RNNOptions options{.input_size = 3, .hidden_size = 4, .num_layers = 2, .dtype = DType::f64};
    Generator a(21), b(21);
    std::unique_ptr<RNNBase> layer = make_rnn(kind, options, a);
    CHECK(layer->type_name() == (lstm ? "tg::LSTM" : "tg::GRU"));
    CHECK(layer->kind() == kind);
    CHECK(layer->parameter("weight_ih_l1").shape() == Shape{(lstm ? 4u : 3u) * 4, 4});
    // The factory's layer is the concrete class's, value for value (the same draws in the same order).
    std::unique_ptr<RNNBase> concrete = lstm ? std::unique_ptr<RNNBase>(std::make_unique<LSTM>(options, b))
                                             : std::unique_ptr<RNNBase>(std::make_unique<GRU>(options, b));
    const StateDict made = layer->state_dict(), built = concrete->state_dict();
    REQUIRE(made.size() == built.size());
    for (std::size_t i = 0; i < made.size(); ++i) {
      CHECK(made[i].name == built[i].name);
      CHECK(made[i].value.to_vector() == built[i].value.to_vector());
    }
    RNNOutput out = layer->forward(Var(randn({5, 2, 3}, 22)));
    CHECK(out.output.shape() == Shape{5, 2, 4});
    CHECK(out.state.c.defined() == has_cell_state(kind));

    std::unique_ptr<RecurrentCell> cell = make_cell(kind, {.input_size = 3, .hidden_size = 4, .dtype = DType::f64});
    CHECK(cell->type_name() == (lstm ? "tg::LSTMCell" : "tg::GRUCell"));
    CHECK(cell->weight_hh.shape() == Shape{gate_count(kind) * 4, 4});
    const Var x(randn({2, 3}, 23)), h(randn({2, 4}, 24)), c(randn({2, 4}, 25));
    CellState stepped = cell->step(x, {h, c});
    CellState direct = lstm ? dynamic_cast<const LSTMCell&>(*cell).forward(x, {h, c})
                            : CellState{dynamic_cast<const GRUCell&>(*cell).forward(x, h), Var()};
    CHECK(stepped.h.value().to_vector() == direct.h.value().to_vector());
    REQUIRE(stepped.c.defined() == has_cell_state(kind));
    if (stepped.c.defined()) CHECK(stepped.c.value().to_vector() == direct.c.value().to_vector());
  }
}

TEST_CASE("recurrent layers reject bad input with messages that name it") {
  LSTM lstm({.input_size = 3, .hidden_size = 4, .batch_first = true});
  CHECK_THROWS_WITH_AS(lstm.forward(Var(Tensor::zeros({2, 3}))),
                       doctest::Contains("input must be float32 [B, T, I] with I = 3, got float32 [2, 3]"), ShapeError);
  CHECK_THROWS_WITH_AS(lstm.forward(Var(Tensor::zeros({2, 5, 4}))), doctest::Contains("got float32 [2, 5, 4]"),
                       ShapeError);
  CHECK_THROWS_WITH_AS(lstm.forward(Var(Tensor::zeros({2, 5, 3})), {}, {5}),
                       doctest::Contains("1 lengths given for a batch of 2"), ShapeError);
  CHECK_THROWS_WITH_AS(lstm.forward(Var(Tensor::zeros({2, 5, 3})), {}, {5, 6}),
                       doctest::Contains("lengths[1] = 6 is outside [1, 5]"), IndexError);
  CHECK_THROWS_WITH_AS(lstm.forward(Var(Tensor::zeros({2, 5, 3})), {}, {0, 5}), doctest::Contains("lengths[0] = 0"),
                       IndexError);
  CHECK_THROWS_WITH_AS(lstm.forward(Var(Tensor::zeros({2, 5, 3})), {Var(Tensor::zeros({1, 3, 4})), Var()}),
                       doctest::Contains("initial state h0 must be float32 [1, 2, 4], got float32 [1, 3, 4]"),
                       ShapeError);
  CHECK_THROWS_WITH_AS(lstm.forward(Var(Tensor::zeros({2, 5, 3})), {Var(), Var(Tensor::zeros({2, 2, 4}))}),
                       doctest::Contains("LSTM(input_size = 3, hidden_size = 4, num_layers = 1, batch_first): initial "
                                         "state c0 must be float32 [1, 2, 4], got float32 [2, 2, 4]"),
                       ShapeError);
  GRU gru({.input_size = 3, .hidden_size = 4, .num_layers = 2, .bidirectional = true});
  CHECK_THROWS_WITH_AS(gru.forward(Var(Tensor::zeros({5, 2, 3, 1}))),
                       doctest::Contains("GRU(input_size = 3, hidden_size = 4, num_layers = 2, bidirectional): input "
                                         "must be float32 [T, B, I] with I = 3, got float32 [5, 2, 3, 1]"),
                       ShapeError);
  CHECK_THROWS_WITH_AS(gru.forward(Var(Tensor::zeros({5, 2, 3})), {Var(Tensor::zeros({2, 2, 4})), Var()}),
                       doctest::Contains("initial state h0 must be float32 [4, 2, 4], got float32 [2, 2, 4]"),
                       ShapeError);
  CHECK_THROWS_WITH_AS(gru.forward(Var(Tensor::zeros({5, 2, 3})), {}, {1, 2, 3}),
                       doctest::Contains("3 lengths given for a batch of 2 (input [5, 2, 3])"), ShapeError);
  LSTMCell lstm_cell({.input_size = 3, .hidden_size = 4});
  CHECK_THROWS_WITH_AS(lstm_cell.forward(Var(Tensor::zeros({2, 2}))),
                       doctest::Contains("LSTMCell(3, 4): input must be float32 [B, 3], got float32 [2, 2]"),
                       ShapeError);
  CHECK_THROWS_WITH_AS(lstm_cell.forward(Var(Tensor::zeros({2, 3})), {Var(), Var(Tensor::zeros({3, 4}))}),
                       doctest::Contains("LSTMCell(3, 4): state c must be float32 [2, 4], got float32 [3, 4]"),
                       ShapeError);
  CHECK_THROWS_WITH_AS(lstm.forward(Var(Tensor::zeros({2, 5, 3}, DType::f64))),
                       doctest::Contains("input must be float32 [B, T, I] with I = 3, got float64 [2, 5, 3]"),
                       DTypeError);
  CHECK_THROWS_WITH_AS(gru.forward(Var(Tensor::zeros({5, 2, 3})), {Var(Tensor::zeros({4, 2, 4}, DType::f64)), Var()}),
                       doctest::Contains("initial state h0 must be float32 [4, 2, 4], got float64 [4, 2, 4]"),
                       DTypeError);
  CHECK_THROWS_WITH_AS(LSTM({.input_size = 3, .hidden_size = 0}),
                       doctest::Contains("LSTM: num_layers (1) and hidden_size (0) must be at least 1"), Error);
  CHECK_THROWS_WITH_AS(GRU({.input_size = 3, .hidden_size = 4, .dropout = 1.5}),
                       doctest::Contains("GRU: dropout 1.5 is outside [0, 1]"), Error);
  GRUCell cell({.input_size = 3, .hidden_size = 4});
  CHECK_THROWS_WITH_AS(cell.forward(Var(Tensor::zeros({2, 3})), Var(Tensor::zeros({2, 5}))),
                       doctest::Contains("state h must be float32 [2, 4], got float32 [2, 5]"), ShapeError);
}

namespace {

// Worst |got - want| / (atol + rtol |want|): within tolerance when <= 1. float32
// against float64 references: rounding leaves ~1e-7 absolute on elements that are
// sums of O(1) terms, whatever their own size, hence the absolute floor.
double rel_error(const Tensor& got, const nlohmann::json& want, double rtol, double atol) {
  std::vector<double> g = got.to_vector(), w = want.at("data").get<std::vector<double>>();
  REQUIRE(g.size() == w.size());
  double worst = 0;
  for (std::size_t i = 0; i < g.size(); ++i)
    worst = std::max(worst, std::abs(g[i] - w[i]) / (atol + rtol * std::abs(w[i])));
  return worst;
}

StateDict params_of(const nlohmann::json& c, DType dtype) {
  StateDict s;
  for (auto& [name, t] : c.at("params").items()) s.push_back({name, test::tensor_of(t, dtype)});
  return s;
}

template <class M>
void compare_layer(const nlohmann::json& c, DType dtype, double tol, double floor) {
  RNNOptions o{.input_size = 3,
               .hidden_size = 4,
               .num_layers = 2,
               .batch_first = c.at("batch_first").get<bool>(),
               .bidirectional = true,
               .dtype = dtype};
  M m(o);
  m.load_state_dict(params_of(c, dtype));
  Var x(test::tensor_of(c.at("input"), dtype), true);
  Var h0(test::tensor_of(c.at("h0"), dtype), true);
  Var c0 = c.contains("c0") ? Var(test::tensor_of(c.at("c0"), dtype), true) : Var();
  RNNOutput out = m.forward(x, {h0, c0}, c.at("lengths").get<std::vector<std::int64_t>>());
  Var loss = sum(out.output * Var(test::tensor_of(c.at("r_out"), dtype))) +
             sum(out.state.h * Var(test::tensor_of(c.at("r_h"), dtype)));
  if (c0.defined()) loss = loss + sum(out.state.c * Var(test::tensor_of(c.at("r_c"), dtype)));
  loss.backward();
  CHECK(rel_error(out.output.value(), c.at("output"), tol, floor) <= 1);
  CHECK(rel_error(out.state.h.value(), c.at("h_n"), tol, floor) <= 1);
  if (c0.defined()) {
    CHECK(rel_error(out.state.c.value(), c.at("c_n"), tol, floor) <= 1);
    CHECK(rel_error(c0.grad(), c.at("d_c0"), tol, floor) <= 1);
  }
  CHECK(std::abs(loss.item() - c.at("loss").get<double>()) <= floor + tol * std::abs(c.at("loss").get<double>()));
  CHECK(rel_error(x.grad(), c.at("d_input"), tol, floor) <= 1);
  CHECK(rel_error(h0.grad(), c.at("d_h0"), tol, floor) <= 1);
  for (const auto& p : m.named_parameters()) {
    CAPTURE(p.name);
    CHECK(rel_error(p.var.grad(), c.at("grads").at(p.name), tol, floor) <= 1);
  }
}

}  // namespace

TEST_CASE("LSTM, GRU, LSTMCell, GRUCell equal torch.nn's outputs and gradients (fixtures)") {
  nlohmann::json f = test::load_fixtures("rnn.json");
  for (const auto& entry : {std::tuple{DType::f64, 1e-10, 1e-13}, std::tuple{DType::f32, 1e-5, 1e-6}}) {
    const auto& dtype = std::get<0>(entry);
    const auto& tol = std::get<1>(entry);
    const auto& floor = std::get<2>(entry);
    CAPTURE(dtype_name(dtype));
    for (const auto& c : f.at("layers")) {
      CAPTURE(c.at("kind").get<std::string>());
      CAPTURE(c.at("batch_first").get<bool>());
      if (c.at("kind") == "lstm") {
        compare_layer<LSTM>(c, dtype, tol, floor);
      } else {
        compare_layer<GRU>(c, dtype, tol, floor);
      }
    }
    for (const auto& c : f.at("cells")) {
      Var x(test::tensor_of(c.at("input"), dtype), true);
      Var h(test::tensor_of(c.at("h"), dtype), true);
      if (c.at("kind") == "lstm") {
        LSTMCell cell({.input_size = 3, .hidden_size = 4, .dtype = dtype});
        cell.load_state_dict(params_of(c, dtype));
        Var cs(test::tensor_of(c.at("c"), dtype), true);
        CellState s = cell.forward(x, {h, cs});
        (sum(s.h * Var(test::tensor_of(c.at("r_h"), dtype))) + sum(s.c * Var(test::tensor_of(c.at("r_c"), dtype))))
            .backward();
        CHECK(rel_error(s.h.value(), c.at("h1"), tol, floor) <= 1);
        CHECK(rel_error(s.c.value(), c.at("c1"), tol, floor) <= 1);
        CHECK(rel_error(cs.grad(), c.at("d_c"), tol, floor) <= 1);
        for (const auto& p : cell.named_parameters())
          CHECK(rel_error(p.var.grad(), c.at("grads").at(p.name), tol, floor) <= 1);
      } else {
        GRUCell cell({.input_size = 3, .hidden_size = 4, .dtype = dtype});
        cell.load_state_dict(params_of(c, dtype));
        Var h1 = cell.forward(x, h);
        sum(h1 * Var(test::tensor_of(c.at("r_h"), dtype))).backward();
        CHECK(rel_error(h1.value(), c.at("h1"), tol, floor) <= 1);
        for (const auto& p : cell.named_parameters())
          CHECK(rel_error(p.var.grad(), c.at("grads").at(p.name), tol, floor) <= 1);
      }
      CHECK(rel_error(x.grad(), c.at("d_input"), tol, floor) <= 1);
      CHECK(rel_error(h.grad(), c.at("d_h"), tol, floor) <= 1);
    }
  }
}
