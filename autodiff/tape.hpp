#pragma once
/// The tape: a Wengert list of the ops run since the last reset.
///
/// Entries are stored in creation order, which is already a topological
/// order, so backward is a plain reverse loop. Each entry keeps its inputs and
/// a small backward function; the tape un-broadcasts and shape-checks every
/// gradient in one place (accumulate) before adding it into the input.

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <span>
#include <utility>
#include <vector>

#include "tapegrad/autodiff/var.hpp"

namespace tg {

/// Where backward passes on this thread put the gradient of `node`: its own
/// Node::grad, unless `node` is a leaf that the LeafGradients installed on this
/// thread holds (then that object's slot for it).
Tensor& gradient_slot(Node& node);

/// Gradient slots of its own for a set of leaves, for threads that run backward
/// passes through the same parameters at once (DataParallel's shards): while one
/// is installed on a thread (UseLeafGradients), the gradients that thread's
/// backward passes compute for those leaves go to its slots, not to the leaves'
/// Node::grad, which Var::grad() reads. Other leaves are unaffected.
class LeafGradients {
 public:
  explicit LeafGradients(std::vector<Var> leaves);
  std::size_t size() const { return leaves_.size(); }
  /// The slot of leaves[i]: undefined until a backward pass adds to it.
  Tensor& grad(std::size_t i) { return grads_[i]; }
  /// Makes every slot undefined.
  void clear();
  /// The slot of `node`, or null when it is not one of the leaves.
  Tensor* slot_of(const Node& node);

 private:
  std::vector<Var> leaves_;  // kept alive, so that no other node takes an address in index_
  std::vector<Tensor> grads_;
  std::vector<std::pair<const Node*, std::size_t>> index_;  // sorted by node address
};

/// While alive, backward passes on this thread put the gradients of `gradients`'
/// leaves into its slots (one installed at a time per thread; the previous one
/// comes back when this ends).
class UseLeafGradients {
 public:
  explicit UseLeafGradients(LeafGradients& gradients);
  ~UseLeafGradients();
  UseLeafGradients(const UseLeafGradients&) = delete;
  UseLeafGradients& operator=(const UseLeafGradients&) = delete;

 private:
  LeafGradients* previous_;
};

/// Told during the backward passes of one thread when each leaf's gradient for
/// that pass is complete: distributed training starts sending a bucket of
/// gradients while the rest of the backward still runs (dist/).
///
/// A pass tells it once about every leaf that requires grad and is an input of
/// an op whose backward the pass ran (and about the root when it is a leaf), at
/// the moment no work left in the pass can add to that leaf's gradient: right
/// after the backward of the leaf's earliest op on the tape, or, for a gradient
/// that end-of-pass work still adds to (PassEnd::adds_to), once that work is
/// finished. Leaves the pass did not reach are not told of (distributed
/// training finds them when the step ends). `grad` is the leaf's gradient slot
/// (gradient_slot), which the listener may read and change in place. A failed
/// pass stops telling at the failure.
class GradientReadyListener {
 public:
  virtual ~GradientReadyListener() = default;
  virtual void gradient_ready(const Var& leaf, Tensor& grad) = 0;
};

/// While alive, backward passes on this thread tell `listener` (one installed at
/// a time per thread; the previous one comes back when this ends).
class ListenGradientReady {
 public:
  explicit ListenGradientReady(GradientReadyListener& listener);
  ~ListenGradientReady();
  ListenGradientReady(const ListenGradientReady&) = delete;
  ListenGradientReady& operator=(const ListenGradientReady&) = delete;

 private:
  GradientReadyListener* previous_;
};

/// Work that ops' backward functions leave for the end of a backward pass, when
/// every op has run: the gradients of a weight that many small products used,
/// done as one large product (ops/weight_grads.hpp). The tape makes at most one
/// of each type per pass (BackwardContext::at_pass_end), calls finish() on them
/// in the order they were made once the reverse walk is done, and then drops
/// them; if the pass fails, it drops them unfinished.
class PassEnd {
 public:
  virtual ~PassEnd() = default;
  virtual void finish() = 0;
  /// Whether finish() will still add to the gradient of `leaf` (which then is
  /// not complete before it: see GradientReadyListener).
  virtual bool adds_to(const Node& /*leaf*/) const { return false; }
};

/// What a backward function sees: the values around its op and the slots to
/// fill with input gradients. A slot may be left empty (no gradient) and may
/// hold a gradient of the output's broadcast shape: the tape sums it down.
class BackwardContext {
 public:
  BackwardContext(std::span<const Var> inputs, const Tensor& output, Tensor& grad_output, std::span<Tensor> grad_inputs,
                  std::vector<std::unique_ptr<PassEnd>>& pass_end)
      : inputs_(inputs), output_(output), grad_output_(grad_output), grad_inputs_(grad_inputs), pass_end_(pass_end) {}

  std::size_t num_inputs() const { return inputs_.size(); }
  const Tensor& input(std::size_t i) const { return inputs_[i].value(); }
  /// Input i itself, for work that must keep it alive until the end of the pass.
  const Var& input_var(std::size_t i) const { return inputs_[i]; }
  const Tensor& output() const { return output_; }
  const Tensor& grad_output() const { return grad_output_; }
  bool needs_grad(std::size_t i) const { return inputs_[i].requires_grad(); }
  Tensor& grad_input(std::size_t i) { return grad_inputs_[i]; }

  /// The output's gradient itself, moved out: the tape frees it right after
  /// this backward, so the last use of dy may take it instead of copying it
  /// (grad_output() is undefined afterwards).
  Tensor take_grad_output() { return std::move(grad_output_); }
  /// The gradient input i has gathered so far from ops later on the tape (of
  /// its shape and dtype), or null when it has none yet or needs none. An op
  /// may add its contribution into it in place (a gemm with beta = 1, a slice
  /// into its window) instead of filling grad_input(i), which saves a tensor
  /// of the input's size and the tape's add. The tape checks such gradients
  /// for anomalies after the backward, as it checks those it adds itself.
  Tensor* gathered_grad(std::size_t i) const {
    if (!needs_grad(i)) return nullptr;
    Node& n = *inputs_[i].node();
    Tensor& g = gradient_slot(n);
    // A gradient set by hand to another shape or dtype goes the tape's checked way.
    const bool fits = g.defined() && g.dtype() == n.value.dtype() && g.shape() == n.value.shape();
    return fits ? &g : nullptr;
  }

  /// This pass's end-of-pass work of type W (see PassEnd), made at the first call.
  template <class W>
  W& at_pass_end() {
    for (const auto& work : pass_end_) {
      if (auto* w = dynamic_cast<W*>(work.get())) return *w;
    }
    pass_end_.push_back(std::make_unique<W>());
    return static_cast<W&>(*pass_end_.back());
  }

 private:
  std::span<const Var> inputs_;
  const Tensor& output_;
  Tensor& grad_output_;
  std::span<Tensor> grad_inputs_;
  std::vector<std::unique_ptr<PassEnd>>& pass_end_;
};

using BackwardFn = std::function<void(BackwardContext&)>;

/// Per-op facts the tape needs beyond inputs and output.
struct OpFlags {
  /// The op may produce inf by design (masked_fill with -inf): anomaly mode
  /// then only flags NaN in its forward output.
  bool may_produce_inf = false;
};

struct TapeEntry {
  const char* op = "";  ///< a string literal: the op's name
  std::uint32_t first_input = 0;
  std::uint32_t num_inputs = 0;
  std::shared_ptr<Node> output;
  BackwardFn backward;
  std::uint32_t scope = 0;
  std::uint32_t scope_instance = 0;
  /// output->version when the op ran (its inputs' are in Tape::input_versions_).
  std::uint32_t output_version = 0;
  /// Set when a backward without retain_graph has released this entry.
  bool freed = false;
};

class Tape {
 public:
  Tape();
  ~Tape();
  Tape(const Tape&) = delete;
  Tape& operator=(const Tape&) = delete;

  /// Drops every entry (and with them the intermediate values) but keeps the
  /// memory for the next step. Values recorded before can no longer be
  /// differentiated through; use detach() to carry them over.
  void reset();

  std::size_t size() const { return entries_.size(); }
  const TapeEntry& entry(std::size_t index) const { return entries_[index]; }
  std::span<const Var> inputs_of(const TapeEntry& entry) const {
    return {inputs_.data() + entry.first_input, entry.num_inputs};
  }
  std::uint64_t generation() const { return generation_; }
  /// Bytes the tape holds in its own bookkeeping (not tensor storage).
  std::size_t reserved_bytes() const;

  /// Appends an entry; used by record().
  void push(const char* op, std::span<const Var> inputs, const std::shared_ptr<Node>& output, BackwardFn backward);
  void backward(const Var& root, const Tensor& seed, bool retain_graph);

  /// Number of times scope `id` was entered since the last reset (then counts one more).
  std::uint32_t enter_scope(std::uint32_t id);

 private:
  void accumulate(Node& node, Tensor&& grad, const TapeEntry& entry, std::size_t input_index);
  /// Anomaly mode: the gradients an op may have added into in place (gathered_grad) are finite.
  void check_gathered(const TapeEntry& entry, std::span<const Var> inputs) const;
  /// The entry's inputs and output still hold the values the op ran on (no
  /// mutable_value() since): its backward would read the new ones otherwise.
  void check_versions(const TapeEntry& entry, std::span<const Var> inputs) const;

  std::vector<TapeEntry> entries_;
  std::vector<Var> inputs_;
  std::vector<std::uint32_t> input_versions_;  // inputs_[i]'s Node::version when its op ran
  std::vector<Tensor> grad_scratch_;
  std::vector<std::unique_ptr<PassEnd>> pass_end_;  // this backward pass's end-of-pass work
  std::vector<std::uint32_t> scope_entries_;
  /// Unique across all tapes and resets, so a stale node is never mistaken
  /// for a live one, even by a new tape at the same address.
  std::uint64_t generation_ = 0;
};

/// Whether `node` was recorded on a tape that still exists and has not been
/// reset since: only then can backward run through it.
bool recorded_on_live_tape(const Node& node);

/// The tape ops record on in this thread: a thread-local default, or the one
/// installed by the innermost UseTape.
Tape& current_tape();

/// While alive, ops on this thread record on `tape`.
class UseTape {
 public:
  explicit UseTape(Tape& tape);
  ~UseTape();
  UseTape(const UseTape&) = delete;
  UseTape& operator=(const UseTape&) = delete;

 private:
  Tape* previous_;
};

/// The one call through which every op records itself: builds the result
/// Var from `output` and, when gradients are enabled and some input requires
/// grad, appends (op, inputs, backward) to the current tape.
Var record(const char* op, std::span<const Var> inputs, Tensor output, BackwardFn backward, OpFlags flags = {});
Var record(const char* op, std::initializer_list<Var> inputs, Tensor output, BackwardFn backward, OpFlags flags = {});

/// Sums a gradient over the dimensions that broadcasting added or stretched,
/// so that it takes `target` shape. Throws ShapeError if it cannot.
Tensor sum_to_shape(const Tensor& grad, const Shape& target);

/// "op 'add' in scope 'encoder/lstm'": how errors name where they happened.
std::string op_context(const char* op);

}  // namespace tg
