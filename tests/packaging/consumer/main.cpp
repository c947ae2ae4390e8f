// A user's project: checks one gradient by hand, draws it with tapegrad::graphviz,
// then runs an LSTM from the zoo, the data split and two metrics: proves the headers
// (base, autodiff, kernels, ops, models, io, data, metrics, graphviz) install and
// link, private dependencies included.
#include <cstdio>
#include <string>

#include <tapegrad.hpp>
#include <tapegrad/graphviz/render.hpp>

int main() {
  tg::Var x(tg::Tensor::from_vector({2.0}, {1}, tg::DType::f64), true);
  tg::Var y = tg::tanh(x * x);
  // Rendered by libgvc inside libtapegrad_graphviz.so.
  const std::string svg = tg::render_graph(tg::current_tape(), tg::GraphFormat::svg);
  const bool svg_ok = svg.find("<svg") != std::string::npos && svg.find("tanh") != std::string::npos;
  std::printf("consumer: graph as SVG %s\n", svg_ok ? "ok" : "broken");
  y.backward();
  double expected = (1 - y.item() * y.item()) * 2 * 2.0;
  double got = x.grad().item();
  std::printf("consumer: dy/dx = %.12f (expected %.12f)\n", got, expected);
  if (got != expected) return 1;

  // io/ links too (nlohmann-json stays inside the library).
  auto bytes = tg::serialize_safetensors({{"x", x.value()}}, {{"k", "v"}});
  bool io_ok = tg::parse_safetensors(bytes).header.metadata.at("k") == "v";
  std::printf("consumer: safetensors round trip %s\n", io_ok ? "ok" : "broken");

  tg::manual_seed(0);
  tg::LSTM lstm({.input_size = 3, .hidden_size = 4, .num_layers = 2, .batch_first = true});
  tg::Var input(tg::Tensor::normal({2, 5, 3}, 0, 1, 1));
  tg::RNNOutput out = lstm.forward(input, {}, {5, 3});
  tg::sum(out.output).backward();
  bool ok = out.output.shape() == tg::Shape{2, 5, 4} && out.state.h.shape() == tg::Shape{2, 2, 4} &&
            lstm.parameter("weight_ih_l0").grad().defined();
  std::printf("consumer: LSTM with %zu parameters, output %s\n", lstm.parameter_count(),
              tg::shape_str(out.output.shape()).c_str());

  // data/ links too, with OpenSSL's libcrypto (a private dependency) behind the split;
  // metrics/ as well. sha1("hello") mod 100 = 81.
  bool data_ok = tg::split_bucket("hello") == 81 && tg::Vocab::from_json(tg::Vocab().to_json()).size() == 4 &&
                 tg::edit_distance(tg::Tokens{"a", "b"}, tg::Tokens{"b"}) == 1;
  std::printf("consumer: data and metrics %s\n", data_ok ? "ok" : "broken");
  return ok && io_ok && data_ok && svg_ok ? 0 : 1;
}
