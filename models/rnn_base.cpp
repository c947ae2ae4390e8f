#include "tapegrad/models/rnn_base.hpp"

#include <algorithm>
#include <utility>

#include <fmt/format.h>

#include "tapegrad/autodiff/scope.hpp"
#include "tapegrad/models/gru.hpp"
#include "tapegrad/models/init.hpp"
#include "tapegrad/models/lstm.hpp"
#include "tapegrad/ops/dropout.hpp"
#include "tapegrad/ops/elementwise.hpp"
#include "tapegrad/ops/index.hpp"
#include "tapegrad/ops/packed_weights.hpp"
#include "tapegrad/ops/shape.hpp"

namespace tg {
namespace {

/// Names and shapes of a multi-layer RNN's parameters in PyTorch's order: per
/// layer, per direction, weight_ih, weight_hh, then (with bias) bias_ih, bias_hh.
std::vector<std::pair<std::string, Shape>> parameter_layout(const RNNOptions& o, std::size_t gates) {
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

// Row `index` of a [L*D, B, H] state as [B, H]; zeros when the state is undefined.
Var state_row(const Var& state, std::size_t index, std::size_t batch, std::size_t hidden, DType dtype) {
  if (!state.defined()) return Var(Tensor::zeros({batch, hidden}, dtype));
  return reshape(slice(state, 0, static_cast<long>(index), static_cast<long>(index) + 1), Shape{batch, hidden});
}

}  // namespace

RNNBase::RNNBase(RecurrentKind kind, const char* name, const RNNOptions& options, Generator& gen)
    : kind_(kind), name_(name), options_(options) {
  if (options.num_layers == 0 || options.hidden_size == 0) {
    throw Error(fmt::format("{}: num_layers ({}) and hidden_size ({}) must be at least 1", name, options.num_layers,
                            options.hidden_size));
  }
  if (!(options.dropout >= 0 && options.dropout <= 1)) {
    throw Error(fmt::format("{}: dropout {} is outside [0, 1]", name, options.dropout));
  }
  auto layout = parameter_layout(options, gate_count(kind));
  weights_.resize(layout.size());  // sized once: the registry keeps the elements' addresses
  const double k = detail::rnn_init_bound(options.hidden_size);
  for (std::size_t i = 0; i < layout.size(); ++i) {
    names_.push_back(layout[i].first);
    register_parameter(layout[i].first, weights_[i], init::uniform(layout[i].second, -k, k, gen, options.dtype));
  }
}

const Var& RNNBase::parameter(const std::string& name) const {
  for (std::size_t i = 0; i < names_.size(); ++i)
    if (names_[i] == name) return weights_[i];
  throw Error(fmt::format("{}: no parameter named '{}'", name_, name));
}

RNNOutput RNNBase::forward(const Var& input, const RNNState& initial, const std::vector<std::int64_t>& lengths) const {
  const RNNOptions& o = options_;
  const std::vector<Var>& weights = weights_;
  const bool with_c = has_cell_state(kind_);
  FrozenWeights frozen;  // every step multiplies by the same weights: pack them once
  const std::size_t directions = o.bidirectional ? 2 : 1;
  const std::string name =
      fmt::format("{}(input_size = {}, hidden_size = {}, num_layers = {}{}{})", name_, o.input_size, o.hidden_size,
                  o.num_layers, o.bidirectional ? ", bidirectional" : "", o.batch_first ? ", batch_first" : "");
  const char* layout = o.batch_first ? "[B, T, I]" : "[T, B, I]";
  const bool input_fits = input.dim() == 3 && input.shape()[2] == o.input_size;
  if (!input_fits || input.dtype() != weights[0].dtype()) {
    detail::throw_bad_argument(
        input_fits, fmt::format("{}: input must be {} {} with I = {}, got {} {}", name, dtype_name(weights[0].dtype()),
                                layout, o.input_size, dtype_name(input.dtype()), shape_str(input.shape())));
  }
  const std::size_t steps = input.shape()[o.batch_first ? 1 : 0], batch = input.shape()[o.batch_first ? 0 : 1];
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
      detail::throw_bad_argument(
          state->shape() == state_shape,
          fmt::format("{}: initial state {} must be {} {}, got {} {}", name, what, dtype_name(input.dtype()),
                      shape_str(state_shape), dtype_name(state->dtype()), shape_str(state->shape())));
    }
  }

  // Time-major inside: row block t of a [T*B, *] matrix is step t, so a step's
  // projected input is one contiguous slice. active[t]: [B, 1] mask of the
  // sequences that have step t, made only for the steps some sequence lacks
  // (masked[t]); padded: [T, B, 1], true past each sequence's end.
  std::vector<Mask> active(steps);
  std::vector<char> masked(steps, 0);
  Mask padded;
  if (!lengths.empty()) {
    padded = Mask::from_shape({steps, batch, 1});
    for (std::size_t t = 0; t < steps; ++t) {
      Mask a = Mask::from_shape({batch, 1});
      for (std::size_t b = 0; b < batch; ++b) {
        a(b, 0) = static_cast<std::int64_t>(t) < lengths[b];
        padded(t, b, 0) = !a(b, 0);
        masked[t] = masked[t] || !a(b, 0);
      }
      if (masked[t]) active[t] = std::move(a);
    }
  }

  const std::size_t per_direction = o.bias ? 4 : 2;  // weight_ih, weight_hh (, bias_ih, bias_hh)
  std::vector<Var> final_h, final_c;
  Var x = o.batch_first ? transpose(input, 0, 1) : input;  // [T, B, I_k]
  for (std::size_t layer = 0; layer < o.num_layers; ++layer) {
    const Var rows = reshape(x, Shape{steps * batch, x.shape()[2]});  // [T*B, I_k]
    std::vector<Var> direction_outputs;
    for (std::size_t d = 0; d < directions; ++d) {
      // Scopes name the layer and direction in graphs; each step is a repeat of "step".
      NameScope where(fmt::format("l{}{}", layer, d == 1 ? "_reverse" : ""));
      const std::size_t base = (layer * directions + d) * per_direction;
      DirectionWeights dir{weights[base], weights[base + 1], o.bias ? &weights[base + 2] : nullptr,
                           o.bias ? &weights[base + 3] : nullptr};
      const std::size_t row = layer * directions + d;
      CellState s{state_row(initial.h, row, batch, hidden, input.dtype()),
                  with_c ? state_row(initial.c, row, batch, hidden, input.dtype()) : Var()};
      Var projected = project_inputs(dir, rows);  // [T*B, G*H]
      std::vector<Var> outputs(steps);
      for (std::size_t k = 0; k < steps; ++k) {
        // The backward direction walks from the end; a padded step keeps the initial
        // state, so it effectively starts at each sequence's own last step.
        const std::size_t t = d == 0 ? k : steps - 1 - k;
        NameScope step_scope("step");
        Var x_t = slice(projected, 0, static_cast<long>(t * batch), static_cast<long>((t + 1) * batch));
        CellState next = step(dir, x_t, s);
        if (masked[t]) {
          next.h = tg::where(active[t], next.h, s.h);
          if (with_c) next.c = tg::where(active[t], next.c, s.c);
        }
        outputs[t] = next.h;
        s = std::move(next);
      }
      final_h.push_back(s.h);
      if (with_c) final_c.push_back(s.c);
      // A padded step's h is the held state: zeroed here in one op for the whole
      // sequence, which also stops gradient from reaching it through the output.
      Var sequence = stack(outputs, 0);  // [T, B, H]
      const bool any_padded = std::find(masked.begin(), masked.end(), 1) != masked.end();
      direction_outputs.push_back(any_padded ? masked_fill(sequence, padded, 0.0) : sequence);
    }
    x = directions == 1 ? direction_outputs[0] : concat(direction_outputs, 2);
    if (layer + 1 < o.num_layers && o.dropout > 0) x = dropout(x, o.dropout, is_training());
  }
  RNNOutput out;
  out.output = o.batch_first ? transpose(x, 0, 1) : x;
  out.state.h = stack(final_h, 0);
  if (with_c) out.state.c = stack(final_c, 0);
  return out;
}

std::unique_ptr<RNNBase> make_rnn(RecurrentKind kind, const RNNOptions& options, Generator& gen) {
  switch (kind) {
    case RecurrentKind::lstm:
      return std::make_unique<LSTM>(options, gen);
    case RecurrentKind::gru:
      return std::make_unique<GRU>(options, gen);
  }
  throw Error(fmt::format("make_rnn: invalid recurrent kind {}", static_cast<int>(kind)));
}

}  // namespace tg
