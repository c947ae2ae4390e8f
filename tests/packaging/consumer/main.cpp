// Trains nothing, checks one gradient: proves the headers and library link.
#include <cstdio>

#include <tapegrad.hpp>

int main() {
  tg::Var x(tg::Tensor::from_vector({2.0}, {1}, tg::DType::f64), true);
  tg::Var y = tg::tanh(x * x);
  y.backward();
  double expected = (1 - y.item() * y.item()) * 2 * 2.0;
  double got = x.grad().item();
  std::printf("consumer: dy/dx = %.12f (expected %.12f)\n", got, expected);
  // io/ links too (nlohmann-json stays inside the library).
  auto bytes = tg::serialize_safetensors({{"x", x.value()}}, {{"k", "v"}});
  bool io_ok = tg::parse_safetensors(bytes).header.metadata.at("k") == "v";
  std::printf("consumer: safetensors round trip %s\n", io_ok ? "ok" : "broken");
  return got == expected && io_ok ? 0 : 1;
}
