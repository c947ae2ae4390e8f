#include "tapegrad/models/lstm.hpp"

#include <cmath>

#include <fmt/format.h>

#include "tapegrad/ops/elementwise.hpp"
#include "tapegrad/ops/linalg.hpp"
#include "tapegrad/ops/rnn.hpp"
#include "tapegrad/models/init.hpp"

namespace tg {
namespace {

double init_bound(std::size_t hidden) { return hidden > 0 ? 1.0 / std::sqrt(static_cast<double>(hidden)) : 0.0; }

}  // namespace

LSTMCell::LSTMCell(const LSTMCellOptions& options, Generator& gen) : options_(options) {
  const std::size_t h = options.hidden_size;
  const double k = init_bound(h);
  register_parameter("weight_ih", weight_ih, init::uniform({4 * h, options.input_size}, -k, k, gen, options.dtype));
  register_parameter("weight_hh", weight_hh, init::uniform({4 * h, h}, -k, k, gen, options.dtype));
  if (options.bias) {
    register_parameter("bias_ih", bias_ih, init::uniform({4 * h}, -k, k, gen, options.dtype));
    register_parameter("bias_hh", bias_hh, init::uniform({4 * h}, -k, k, gen, options.dtype));
  }
}

// [i f g o] = x W_ih^T + b_ih + h W_hh^T + b_hh; c' = s(f) c + s(i) tanh(g); h' = s(o) tanh(c')
CellState LSTMCell::forward(const Var& x, const CellState& state) const {
  const std::size_t h = options_.hidden_size;
  const bool input_fits = x.dim() == 2 && x.shape()[1] == options_.input_size;
  if (!input_fits || x.dtype() != weight_ih.dtype()) {
    detail::throw_bad_argument(
        input_fits,
        fmt::format("LSTMCell({}, {}): input must be {} [B, {}], got {} {}", options_.input_size, h,
                    dtype_name(weight_ih.dtype()), options_.input_size, dtype_name(x.dtype()), shape_str(x.shape())));
  }
  const Shape state_shape{x.shape()[0], h};
  for (const auto& [what, v] : {std::pair{"h", &state.h}, std::pair{"c", &state.c}}) {
    if (v->defined() && (v->shape() != state_shape || v->dtype() != x.dtype())) {
      detail::throw_bad_argument(
          v->shape() == state_shape,
          fmt::format("LSTMCell({}, {}): state {} must be {} {}, got {} {}", options_.input_size, h, what,
                      dtype_name(x.dtype()), shape_str(state_shape), dtype_name(v->dtype()), shape_str(v->shape())));
    }
  }
  Var gates;
  if (state.h.defined()) {
    gates = options_.bias ? linear_pair(x, weight_ih, state.h, weight_hh, bias_ih, bias_hh)
                          : linear_pair(x, weight_ih, state.h, weight_hh);
  } else {
    gates = options_.bias ? linear(x, weight_ih, bias_ih + bias_hh) : linear(x, weight_ih);
  }
  Var c = state.c.defined() ? state.c : Var(Tensor::zeros(state_shape, x.dtype()));
  Var c_next = lstm_cell_state(gates, c);
  return {lstm_cell_output(gates, c_next), c_next};
}

LSTM::LSTM(const RNNOptions& options, Generator& gen) : options_(options) {
  if (options.num_layers == 0 || options.hidden_size == 0) {
    throw Error(fmt::format("LSTM: num_layers ({}) and hidden_size ({}) must be at least 1", options.num_layers,
                            options.hidden_size));
  }
  if (!(options.dropout >= 0 && options.dropout <= 1)) {
    throw Error(fmt::format("LSTM: dropout {} is outside [0, 1]", options.dropout));
  }
  auto layout = detail::rnn_parameter_layout(options, 4);
  weights_.resize(layout.size());  // sized once: the registry keeps the elements' addresses
  const double k = init_bound(options.hidden_size);
  for (std::size_t i = 0; i < layout.size(); ++i) {
    names_.push_back(layout[i].first);
    register_parameter(layout[i].first, weights_[i], init::uniform(layout[i].second, -k, k, gen, options.dtype));
  }
}

RNNOutput LSTM::forward(const Var& input, const RNNState& initial, const std::vector<std::int64_t>& lengths) const {
  return detail::run_rnn(detail::CellKind::lstm, "LSTM", options_, weights_, input, initial, lengths, is_training());
}

const Var& LSTM::parameter(const std::string& name) const {
  for (std::size_t i = 0; i < names_.size(); ++i)
    if (names_[i] == name) return weights_[i];
  throw Error(fmt::format("LSTM: no parameter named '{}'", name));
}

}  // namespace tg
