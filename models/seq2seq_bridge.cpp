#include "tapegrad/models/seq2seq_bridge.hpp"

#include <cmath>

#include "tapegrad/models/init.hpp"
#include "tapegrad/ops/activation.hpp"
#include "tapegrad/ops/elementwise.hpp"
#include "tapegrad/ops/linalg.hpp"
#include "tapegrad/ops/shape.hpp"

namespace tg {

Seq2SeqBridge::Seq2SeqBridge(const Seq2SeqOptions& options, Generator& gen) : options_(options) {
  const std::size_t in = detail::directions(options) * options.hidden_size;
  const std::size_t out = options.decoder_hidden_size;
  const std::size_t layers = options.decoder_layers;
  // PyTorch's Linear default, U(-1/sqrt(in), 1/sqrt(in)), for each layer's map.
  const double bound = 1.0 / std::sqrt(static_cast<double>(in));
  register_parameter("weight_h", weight_h, init::uniform({layers, out, in}, -bound, bound, gen, options.dtype));
  register_parameter("bias_h", bias_h, init::uniform({layers, out}, -bound, bound, gen, options.dtype));
  if (has_cell_state(options.cell)) {
    register_parameter("weight_c", weight_c, init::uniform({layers, out, in}, -bound, bound, gen, options.dtype));
    register_parameter("bias_c", bias_c, init::uniform({layers, out}, -bound, bound, gen, options.dtype));
  }
}

// y[l] = x[l] W[l]^T + b[l]: one batched GEMM over the layers.
Var Seq2SeqBridge::forward_h(const Var& h) const {
  return tanh(add(matmul(h, weight_h, false, true), unsqueeze(bias_h, 1)));
}

Var Seq2SeqBridge::forward_c(const Var& c) const {
  if (!weight_c.defined()) throw Error("Seq2SeqBridge: forward_c needs an LSTM model (GRU has no cell state)");
  return add(matmul(c, weight_c, false, true), unsqueeze(bias_c, 1));
}

}  // namespace tg
