#include "tapegrad/autodiff/var.hpp"

#include <fmt/format.h>

#include "tapegrad/autodiff/scope.hpp"
#include "tapegrad/autodiff/tape.hpp"

namespace tg {

Var::Var(Tensor value, bool requires_grad) : node_(std::make_shared<Node>(std::move(value))) {
  node_->requires_grad = requires_grad;
  node_->scope = current_scope();
}

void Var::throw_undefined() { throw Error("an undefined Var (default-constructed, never assigned) was used"); }

Var Var::parameter(Tensor value, std::string name) {
  Var v(std::move(value), true);
  v.node_->name = std::move(name);
  return v;
}

void Var::set_requires_grad(bool requires_grad) {
  if (!is_leaf()) {
    throw Error(
        "set_requires_grad: only leaves can change requires_grad; values computed by ops follow their inputs "
        "(use detach() for a leaf copy)");
  }
  node_->requires_grad = requires_grad;
}

void Var::backward(bool retain_graph) const {
  if (!defined()) throw BackwardError("backward(): called on an undefined Var");
  if (value().size() != 1) {
    throw BackwardError(
        fmt::format("backward(): the value has shape {}, not a single element; pass a seed gradient of that shape",
                    shape_str(shape())));
  }
  backward(Tensor::full(shape(), 1.0, dtype()), retain_graph);
}

void Var::backward(const Tensor& seed, bool retain_graph) const {
  if (!defined()) throw BackwardError("backward(): called on an undefined Var");
  if (node_->tape == nullptr) {
    current_tape().backward(*this, seed, retain_graph);
    return;
  }
  if (!recorded_on_live_tape(*node_)) {
    throw BackwardError(
        "backward(): the value was recorded on a tape that has been reset or destroyed since; its graph is gone "
        "(run the forward again)");
  }
  // The producing tape, not the current one: backward may run after UseTape ended.
  const_cast<Tape*>(node_->tape)->backward(*this, seed, retain_graph);
}

Var Var::detach() const {
  Var out(value(), false);
  return out;
}

}  // namespace tg
