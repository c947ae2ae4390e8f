#include "tapegrad/models/recurrent_cell.hpp"

#include <fmt/format.h>

#include "tapegrad/models/gru.hpp"
#include "tapegrad/models/init.hpp"
#include "tapegrad/models/lstm.hpp"

namespace tg {

RecurrentCell::RecurrentCell(RecurrentKind kind, const char* name, const RecurrentCellOptions& options, Generator& gen)
    : options_(options), kind_(kind), name_(name) {
  const std::size_t gates = gate_count(kind) * options.hidden_size;
  const double k = detail::rnn_init_bound(options.hidden_size);
  register_parameter("weight_ih", weight_ih, init::uniform({gates, options.input_size}, -k, k, gen, options.dtype));
  register_parameter("weight_hh", weight_hh, init::uniform({gates, options.hidden_size}, -k, k, gen, options.dtype));
  if (options.bias) {
    register_parameter("bias_ih", bias_ih, init::uniform({gates}, -k, k, gen, options.dtype));
    register_parameter("bias_hh", bias_hh, init::uniform({gates}, -k, k, gen, options.dtype));
  }
}

void RecurrentCell::check_input(const Var& x) const {
  const bool input_fits = x.dim() == 2 && x.shape()[1] == options_.input_size;
  if (!input_fits || x.dtype() != weight_ih.dtype()) {
    detail::throw_bad_argument(
        input_fits,
        fmt::format("{}({}, {}): input must be {} [B, {}], got {} {}", name_, options_.input_size, options_.hidden_size,
                    dtype_name(weight_ih.dtype()), options_.input_size, dtype_name(x.dtype()), shape_str(x.shape())));
  }
}

void RecurrentCell::check_state(const char* what, const Var& state, const Var& x) const {
  const Shape state_shape{x.shape()[0], options_.hidden_size};
  if (state.defined() && (state.shape() != state_shape || state.dtype() != x.dtype())) {
    detail::throw_bad_argument(state.shape() == state_shape,
                               fmt::format("{}({}, {}): state {} must be {} {}, got {} {}", name_, options_.input_size,
                                           options_.hidden_size, what, dtype_name(x.dtype()), shape_str(state_shape),
                                           dtype_name(state.dtype()), shape_str(state.shape())));
  }
}

std::unique_ptr<RecurrentCell> make_cell(RecurrentKind kind, const RecurrentCellOptions& options, Generator& gen) {
  switch (kind) {
    case RecurrentKind::lstm:
      return std::make_unique<LSTMCell>(options, gen);
    case RecurrentKind::gru:
      return std::make_unique<GRUCell>(options, gen);
  }
  throw Error(fmt::format("make_cell: invalid recurrent kind {}", static_cast<int>(kind)));
}

}  // namespace tg
