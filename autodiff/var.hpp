#pragma once
/// Var: the handle to a value that ops read and the tape differentiates.
///
/// A Var is a shared handle: copies refer to the same node. Leaves (parameters,
/// inputs) live as long as some Var refers to them, across any number of
/// training steps; values computed by ops are also held by the tape that
/// recorded them, until that tape is reset.

#include <cstdint>
#include <memory>
#include <string>

#include "tapegrad/autodiff/tensor.hpp"

namespace tg {

class Tape;

/// One value in the graph. Produced either by the user (a leaf) or by an op
/// recorded on a tape (then `tape` and `entry` say where).
struct Node {
  // User-provided, so that make_shared does not zero the whole node first.
  Node() noexcept {}
  explicit Node(Tensor&& v) noexcept : value(std::move(v)) {}

  Tensor value;
  /// Accumulated gradient; undefined until a backward pass reaches this node.
  Tensor grad;
  /// Parameter name ("encoder.lstm.weight_ih_l0"), empty for other values.
  std::string name;
  bool requires_grad = false;
  /// Tape that recorded the op producing this value; null for leaves.
  const Tape* tape = nullptr;
  /// Generation of `tape` at recording time: a reset tape no longer holds the entry.
  std::uint64_t generation = 0;
  /// Index of the producing entry on `tape`.
  std::uint32_t entry = 0;
  /// Name scope that was current when the value was created.
  std::uint32_t scope = 0;
  /// Bumped by every write through Var::mutable_value(): the tape records it
  /// with each op's inputs and output, and backward refuses to run an op whose
  /// values have changed since (its gradient would be computed from the new ones).
  std::uint32_t version = 0;
};

class Var {
 public:
  /// An undefined Var; defined() is false.
  Var() = default;
  /// A leaf holding `value`.
  explicit Var(Tensor value, bool requires_grad = false);
  explicit Var(std::shared_ptr<Node> node) : node_(std::move(node)) {}

  /// A named leaf that requires grad: what models own and optimizers update.
  static Var parameter(Tensor value, std::string name);

  bool defined() const { return node_ != nullptr; }
  const Tensor& value() const { return checked().value; }
  /// The value, to change in place or replace (optimizer updates, loading a
  /// checkpoint, gradcheck's nudges). Bumps version(): a backward through ops
  /// recorded before the change throws instead of computing a wrong gradient,
  /// so change values between steps (after backward), not between forward and
  /// backward.
  Tensor& mutable_value() {
    Node& node = checked();
    ++node.version;
    return node.value;
  }
  /// How many times the value was handed out for writing (mutable_value()).
  std::uint32_t version() const { return checked().version; }
  const Tensor& grad() const { return checked().grad; }
  Tensor& grad() { return checked().grad; }
  bool requires_grad() const { return checked().requires_grad; }
  /// Only leaves may change it; values made by ops follow their inputs.
  void set_requires_grad(bool requires_grad);
  const std::string& name() const { return checked().name; }
  void set_name(std::string name) { checked().name = std::move(name); }

  const Shape& shape() const { return value().shape(); }
  DType dtype() const { return value().dtype(); }
  std::size_t dim() const { return value().dim(); }
  std::size_t size() const { return value().size(); }
  double item() const { return value().item(); }
  bool is_leaf() const { return checked().tape == nullptr; }

  /// Reverse pass from this scalar value (seed 1).
  void backward(bool retain_graph = false) const;
  /// Reverse pass from this value with an explicit seed gradient of its shape.
  /// Without retain_graph the graph's saved state is freed and a second
  /// backward through it throws.
  void backward(const Tensor& seed, bool retain_graph = false) const;
  /// Forgets the accumulated gradient (the next backward starts from zero).
  void zero_grad() { checked().grad.reset(); }
  /// A new leaf with a copy of this value, cut off from the graph.
  Var detach() const;

  Node* node() const { return node_.get(); }
  const std::shared_ptr<Node>& node_ptr() const { return node_; }

 private:
  /// The node; an undefined Var throws an Error instead of dereferencing null.
  Node& checked() const {
    if (node_ == nullptr) throw_undefined();
    return *node_;
  }
  [[noreturn]] static void throw_undefined();

  std::shared_ptr<Node> node_;
};

}  // namespace tg
