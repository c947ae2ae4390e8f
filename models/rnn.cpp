#include "rnn.hpp"

#include <fmt/format.h>

#include "../autodiff/scope.hpp"
#include "../ops/dropout.hpp"
#include "../ops/elementwise.hpp"
#include "../ops/index.hpp"
#include "../ops/linalg.hpp"
#include "../ops/rnn.hpp"
#include "../ops/shape.hpp"

namespace tg::detail {
namespace {

// The weights of one layer and direction, and how a step uses them.
struct Direction {
  const Var& w_ih;  // [G*H, I]
  const Var& w_hh;  // [G*H, H]
  const Var* b_ih;  // [G*H] or null
  const Var* b_hh;  // [G*H] or null
};

// Input projection of every step at once: x [.., .., I] -> [.., .., G*H] in one GEMM.
// LSTM folds both biases in here; GRU only b_ih (b_hh sits inside r * (W_hn h + b_hn)).
Var project_inputs(CellKind kind, const Direction& d, const Var& x) {
  if (d.b_ih == nullptr) return linear(x, d.w_ih);
  if (kind == CellKind::lstm) return linear(x, d.w_ih, *d.b_ih + *d.b_hh);
  return linear(x, d.w_ih, *d.b_ih);
}

// One step from the projected input x_t [B, G*H].
CellState step(CellKind kind, const Direction& d, const Var& x_t, const CellState& s) {
  if (kind == CellKind::lstm) {
    Var gates = x_t + matmul(s.h, d.w_hh, false, true);
    Var c = lstm_cell_state(gates, s.c);
    return {lstm_cell_output(gates, c), c};
  }
  Var h_gates = matmul(s.h, d.w_hh, false, true);
  if (d.b_hh != nullptr) h_gates = h_gates + *d.b_hh;
  return {gru_cell(x_t, h_gates, s.h), Var()};
}

// Row `index` of a [L*D, B, H] state as [B, H]; zeros when the state is undefined.
Var state_row(const Var& state, std::size_t index, std::size_t batch, std::size_t hidden, DType dtype) {
  if (!state.defined()) return Var(Tensor::zeros({batch, hidden}, dtype));
  return reshape(slice(state, 0, static_cast<long>(index), static_cast<long>(index) + 1), Shape{batch, hidden});
}

}  // namespace

std::vector<std::pair<std::string, Shape>> rnn_parameter_layout(const RNNOptions& o, std::size_t gates) {
  std::vector<std::pair<std::string, Shape>> layout;
  const std::size_t directions = o.bidirectional ? 2 : 1;
  for (std::size_t layer = 0; layer < o.num_layers; ++layer) {
    const std::size_t in = layer == 0 ? o.input_size : o.hidden_size * directions;
    for (std::size_t d = 0; d < directions; ++d) {
      const std::string suffix = fmt::format("_l{}{}", layer, d == 1 ? "_reverse" : "");
      layout.emplace_back("weight_ih" + suffix, Shape{gates * o.hidden_size, in});
      layout.emplace_back("weight_hh" + suffix, Shape{gates * o.hidden_size, o.hidden_size});
      if (o.bias) {
        layout.emplace_back("bias_ih" + suffix, Shape{gates * o.hidden_size});
        layout.emplace_back("bias_hh" + suffix, Shape{gates * o.hidden_size});
      }
    }
  }
  return layout;
}

RNNOutput run_rnn(CellKind kind, const char* module, const RNNOptions& o, const std::vector<Var>& weights,
                  const Var& input, const RNNState& initial, const std::vector<std::int64_t>& lengths, bool training) {
  const std::size_t directions = o.bidirectional ? 2 : 1;
  const std::string name = fmt::format("{}(input_size = {}, hidden_size = {}, num_layers = {}{}{})", module,
                                       o.input_size, o.hidden_size, o.num_layers,
                                       o.bidirectional ? ", bidirectional" : "", o.batch_first ? ", batch_first" : "");
  const char* layout = o.batch_first ? "[B, T, I]" : "[T, B, I]";
  if (input.dim() != 3 || input.shape()[2] != o.input_size || input.dtype() != weights[0].dtype()) {
    throw ShapeError(fmt::format("{}: input must be {} {} with I = {}, got {} {}", name, dtype_name(weights[0].dtype()),
                                 layout, o.input_size, dtype_name(input.dtype()), shape_str(input.shape())));
  }
  const std::size_t time_axis = o.batch_first ? 1 : 0;
  const std::size_t steps = input.shape()[time_axis], batch = input.shape()[1 - time_axis];
  const std::size_t hidden = o.hidden_size;
  if (steps == 0 || batch == 0) {
    throw ShapeError(fmt::format("{}: input {} has no steps or no sequences", name, shape_str(input.shape())));
  }
  if (!lengths.empty()) {
    if (lengths.size() != batch) {
      throw ShapeError(fmt::format("{}: {} lengths given for a batch of {} (input {})", name, lengths.size(), batch,
                                   shape_str(input.shape())));
    }
    for (std::size_t b = 0; b < batch; ++b) {
      if (lengths[b] < 1 || lengths[b] > static_cast<std::int64_t>(steps)) {
        throw IndexError(fmt::format("{}: lengths[{}] = {} is outside [1, {}] (input {})", name, b, lengths[b], steps,
                                     shape_str(input.shape())));
      }
    }
  }
  const Shape state_shape{o.num_layers * directions, batch, hidden};
  for (const auto& [what, state] : {std::pair{"h0", &initial.h}, std::pair{"c0", &initial.c}}) {
    if (state->defined() && (state->shape() != state_shape || state->dtype() != input.dtype())) {
      throw ShapeError(fmt::format("{}: initial state {} must be {} {}, got {} {}", name, what,
                                   dtype_name(input.dtype()), shape_str(state_shape), dtype_name(state->dtype()),
                                   shape_str(state->shape())));
    }
  }

  // active[t] / padded[t]: [B, 1] masks of the sequences that have / lack step t,
  // made only for the steps that some sequence lacks (masked[t]).
  std::vector<Mask> active(steps), padded(steps);
  std::vector<char> masked(steps, 0);
  for (std::size_t t = 0; t < steps && !lengths.empty(); ++t) {
    Mask a = Mask::from_shape({batch, 1});
    for (std::size_t b = 0; b < batch; ++b) {
      a(b, 0) = static_cast<std::int64_t>(t) < lengths[b];
      masked[t] = masked[t] || !a(b, 0);
    }
    if (masked[t]) {
      padded[t] = !a;
      active[t] = std::move(a);
    }
  }

  const std::size_t per_direction = o.bias ? 4 : 2;
  std::vector<Var> final_h, final_c;
  Var x = input;
  for (std::size_t layer = 0; layer < o.num_layers; ++layer) {
    std::vector<Var> direction_outputs;
    for (std::size_t d = 0; d < directions; ++d) {
      // Scopes name the layer and direction in graphs; each step is a repeat of "step".
      NameScope where(fmt::format("l{}{}", layer, d == 1 ? "_reverse" : ""));
      const std::size_t base = (layer * directions + d) * per_direction;
      Direction dir{weights[base], weights[base + 1], o.bias ? &weights[base + 2] : nullptr,
                    o.bias ? &weights[base + 3] : nullptr};
      const std::size_t row = layer * directions + d;
      CellState s{state_row(initial.h, row, batch, hidden, input.dtype()),
                  kind == CellKind::lstm ? state_row(initial.c, row, batch, hidden, input.dtype()) : Var()};
      Var projected = project_inputs(kind, dir, x);  // [T, B, G*H] or [B, T, G*H]
      const std::size_t gate_width = projected.shape()[2];
      std::vector<Var> outputs(steps);
      for (std::size_t k = 0; k < steps; ++k) {
        // The backward direction walks from the end; a padded step keeps the initial
        // state, so it effectively starts at each sequence's own last step.
        const std::size_t t = d == 0 ? k : steps - 1 - k;
        NameScope step_scope("step");
        Var x_t = reshape(slice(projected, static_cast<long>(time_axis), static_cast<long>(t),
                                static_cast<long>(t) + 1),
                          Shape{batch, gate_width});
        CellState next = step(kind, dir, x_t, s);
        if (masked[t]) {
          outputs[t] = masked_fill(next.h, padded[t], 0.0);
          next.h = tg::where(active[t], next.h, s.h);
          if (kind == CellKind::lstm) next.c = tg::where(active[t], next.c, s.c);
        } else {
          outputs[t] = next.h;
        }
        s = std::move(next);
      }
      final_h.push_back(s.h);
      if (kind == CellKind::lstm) final_c.push_back(s.c);
      direction_outputs.push_back(stack(outputs, static_cast<long>(time_axis)));
    }
    x = directions == 1 ? direction_outputs[0] : concat(direction_outputs, 2);
    if (layer + 1 < o.num_layers && o.dropout > 0) x = dropout(x, o.dropout, training);
  }
  RNNOutput out;
  out.output = x;
  out.state.h = stack(final_h, 0);
  if (kind == CellKind::lstm) out.state.c = stack(final_c, 0);
  return out;
}

}  // namespace tg::detail
