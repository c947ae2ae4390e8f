#include "tapegrad/models/gru.hpp"

#include <cmath>

#include <fmt/format.h>

#include "tapegrad/ops/linalg.hpp"
#include "tapegrad/ops/rnn.hpp"
#include "tapegrad/models/init.hpp"

namespace tg {
namespace {

double init_bound(std::size_t hidden) { return hidden > 0 ? 1.0 / std::sqrt(static_cast<double>(hidden)) : 0.0; }

}  // namespace

GRUCell::GRUCell(const GRUCellOptions& options, Generator& gen) : options_(options) {
  const std::size_t h = options.hidden_size;
  const double k = init_bound(h);
  register_parameter("weight_ih", weight_ih, init::uniform({3 * h, options.input_size}, -k, k, gen, options.dtype));
  register_parameter("weight_hh", weight_hh, init::uniform({3 * h, h}, -k, k, gen, options.dtype));
  if (options.bias) {
    register_parameter("bias_ih", bias_ih, init::uniform({3 * h}, -k, k, gen, options.dtype));
    register_parameter("bias_hh", bias_hh, init::uniform({3 * h}, -k, k, gen, options.dtype));
  }
}

// r, z, n from x W_ih^T + b_ih and h W_hh^T + b_hh; h' = (1 - z) n + z h (ops/rnn.hpp)
Var GRUCell::forward(const Var& x, const Var& h) const {
  const std::size_t hidden = options_.hidden_size;
  const bool input_fits = x.dim() == 2 && x.shape()[1] == options_.input_size;
  if (!input_fits || x.dtype() != weight_ih.dtype()) {
    detail::throw_bad_argument(
        input_fits,
        fmt::format("GRUCell({}, {}): input must be {} [B, {}], got {} {}", options_.input_size, hidden,
                    dtype_name(weight_ih.dtype()), options_.input_size, dtype_name(x.dtype()), shape_str(x.shape())));
  }
  const Shape state_shape{x.shape()[0], hidden};
  if (h.defined() && (h.shape() != state_shape || h.dtype() != x.dtype())) {
    detail::throw_bad_argument(
        h.shape() == state_shape,
        fmt::format("GRUCell({}, {}): state h must be {} {}, got {} {}", options_.input_size, hidden,
                    dtype_name(x.dtype()), shape_str(state_shape), dtype_name(h.dtype()), shape_str(h.shape())));
  }
  Var x_gates = options_.bias ? linear(x, weight_ih, bias_ih) : linear(x, weight_ih);
  Var h_prev = h.defined() ? h : Var(Tensor::zeros(state_shape, x.dtype()));
  Var h_gates = options_.bias ? linear(h_prev, weight_hh, bias_hh) : linear(h_prev, weight_hh);
  return gru_cell(x_gates, h_gates, h_prev);
}

GRU::GRU(const RNNOptions& options, Generator& gen) : options_(options) {
  if (options.num_layers == 0 || options.hidden_size == 0) {
    throw Error(fmt::format("GRU: num_layers ({}) and hidden_size ({}) must be at least 1", options.num_layers,
                            options.hidden_size));
  }
  if (!(options.dropout >= 0 && options.dropout <= 1)) {
    throw Error(fmt::format("GRU: dropout {} is outside [0, 1]", options.dropout));
  }
  auto layout = detail::rnn_parameter_layout(options, 3);
  weights_.resize(layout.size());  // sized once: the registry keeps the elements' addresses
  const double k = init_bound(options.hidden_size);
  for (std::size_t i = 0; i < layout.size(); ++i) {
    names_.push_back(layout[i].first);
    register_parameter(layout[i].first, weights_[i], init::uniform(layout[i].second, -k, k, gen, options.dtype));
  }
}

RNNOutput GRU::forward(const Var& input, const RNNState& initial, const std::vector<std::int64_t>& lengths) const {
  return detail::run_rnn(detail::CellKind::gru, "GRU", options_, weights_, input, initial, lengths, is_training());
}

const Var& GRU::parameter(const std::string& name) const {
  for (std::size_t i = 0; i < names_.size(); ++i)
    if (names_[i] == name) return weights_[i];
  throw Error(fmt::format("GRU: no parameter named '{}'", name));
}

}  // namespace tg
