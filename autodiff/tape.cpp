#include "tapegrad/autodiff/tape.hpp"

#include <algorithm>
#include <atomic>
#include <mutex>
#include <optional>
#include <unordered_map>
#include <unordered_set>

#include <fmt/format.h>
#include <xtensor/xreducer.hpp>

#include "tapegrad/autodiff/mode.hpp"
#include "tapegrad/autodiff/scope.hpp"
#include "tapegrad/autodiff/state.hpp"

namespace tg {

std::string op_context(const char* op) {
  std::uint32_t scope = current_scope();
  if (scope == 0) return fmt::format("op '{}'", op);
  return fmt::format("op '{}' in scope '{}'", op, scope_name(scope));
}

namespace {

std::string entry_context(const TapeEntry& entry) {
  if (entry.scope == 0) return fmt::format("op '{}'", entry.op);
  return fmt::format("op '{}' in scope '{}'", entry.op, scope_name(entry.scope));
}

std::string input_shapes(std::span<const Var> inputs) {
  std::string out;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    if (i > 0) out += ", ";
    const Tensor& v = inputs[i].value();
    out += fmt::format("{} {}", shape_str(v.shape()), dtype_name(v.dtype()));
  }
  return out.empty() ? "none" : out;
}

bool has_nan(const Tensor& t) {
  return dispatch(t.dtype(), [&](auto zero) {
    using T = decltype(zero);
    for (T x : t.array<T>())
      if (x != x) return true;
    return false;
  });
}

void check_forward(const char* op, std::span<const Var> inputs, const Tensor& output, OpFlags flags) {
  bool bad = flags.may_produce_inf ? has_nan(output) : !all_finite(output);
  if (!bad) return;
  // inf that an input already carried is propagated, not produced here.
  if (!has_nan(output)) {
    for (const Var& in : inputs)
      if (!all_finite(in.value())) return;
  }
  throw AnomalyError(fmt::format("anomaly: {} produced {} in its forward output {}; inputs: {}", op_context(op),
                                 has_nan(output) ? "NaN" : "inf", shape_str(output.shape()), input_shapes(inputs)));
}

}  // namespace

Tensor sum_to_shape(const Tensor& grad, const Shape& target) {
  const Shape& from = grad.shape();
  if (from == target) return grad;
  if (from.size() < target.size()) {
    throw ShapeError(
        fmt::format("sum_to_shape: gradient of shape {} cannot be reduced to {}", shape_str(from), shape_str(target)));
  }
  std::size_t lead = from.size() - target.size();
  std::vector<std::size_t> axes;
  for (std::size_t d = 0; d < from.size(); ++d) {
    if (d < lead) {
      axes.push_back(d);
    } else if (target[d - lead] == 1 && from[d] != 1) {
      axes.push_back(d);
    } else if (target[d - lead] != from[d]) {
      throw ShapeError(fmt::format("sum_to_shape: gradient of shape {} cannot be reduced to {}", shape_str(from),
                                   shape_str(target)));
    }
  }
  // xt::sum over an empty array offsets a null pointer (UBSan): the sum of nothing is zeros.
  if (grad.size() == 0) return Tensor::zeros(target, grad.dtype());
  // The common case, a bias's gradient: the summed axes lead, so the sum is
  // one of rows, in a flat loop (xt::sum's reducer walks it element by element).
  bool leading = true;
  for (std::size_t i = 0; i < axes.size(); ++i) leading = leading && axes[i] == i;
  std::size_t rows = 1;
  for (std::size_t axis : axes) rows *= from[axis];
  const std::size_t cols = grad.size() / rows;
  return dispatch(grad.dtype(), [&](auto zero) -> Tensor {
    using T = decltype(zero);
    if (leading) {
      Array<T> summed = Array<T>::from_shape(target);
      const T* g = grad.array<T>().data();
      T* s = summed.data();
      std::copy(g, g + cols, s);
      for (std::size_t r = 1; r < rows; ++r) {
        for (std::size_t j = 0; j < cols; ++j) s[j] += g[r * cols + j];
      }
      return Tensor(std::move(summed));
    }
    Array<T> summed = xt::sum(grad.array<T>(), axes);
    summed.reshape(target);
    return Tensor(std::move(summed));
  });
}

namespace {
std::atomic<std::uint64_t> next_generation{1};

struct LiveTapes {
  std::mutex mutex;
  std::unordered_set<const Tape*> tapes;
};
LiveTapes& live_tapes() {
  static LiveTapes* live = new LiveTapes;  // leaked: thread-local tapes die after statics
  return *live;
}
}  // namespace

Tape::Tape() : generation_(next_generation++) {
  LiveTapes& live = live_tapes();
  std::lock_guard lock(live.mutex);
  live.tapes.insert(this);
}

Tape::~Tape() {
  LiveTapes& live = live_tapes();
  std::lock_guard lock(live.mutex);
  live.tapes.erase(this);
}

bool recorded_on_live_tape(const Node& node) {
  if (node.tape == nullptr) return false;
  LiveTapes& live = live_tapes();
  std::lock_guard lock(live.mutex);
  return live.tapes.count(node.tape) > 0 && node.tape->generation() == node.generation;
}

void Tape::reset() {
  entries_.clear();
  inputs_.clear();
  input_versions_.clear();
  grad_scratch_.clear();
  std::fill(scope_entries_.begin(), scope_entries_.end(), 0);
  generation_ = next_generation++;
}

std::size_t Tape::reserved_bytes() const {
  return entries_.capacity() * sizeof(TapeEntry) + inputs_.capacity() * sizeof(Var) +
         input_versions_.capacity() * sizeof(std::uint32_t) + grad_scratch_.capacity() * sizeof(Tensor) +
         scope_entries_.capacity() * sizeof(std::uint32_t);
}

std::uint32_t Tape::enter_scope(std::uint32_t id) {
  if (id >= scope_entries_.size()) scope_entries_.resize(id + 1, 0);
  return scope_entries_[id]++;
}

void Tape::push(const char* op, std::span<const Var> inputs, const std::shared_ptr<Node>& output, BackwardFn backward) {
  const auto& state = detail::thread_state();
  TapeEntry& e = entries_.emplace_back();
  e.op = op;
  e.first_input = static_cast<std::uint32_t>(inputs_.size());
  e.num_inputs = static_cast<std::uint32_t>(inputs.size());
  e.output = output;
  e.backward = std::move(backward);
  e.scope = state.scope;
  e.scope_instance = state.scope_instance;
  e.output_version = output->version;
  inputs_.insert(inputs_.end(), inputs.begin(), inputs.end());
  for (const Var& in : inputs) input_versions_.push_back(in.node()->version);
  output->tape = this;
  output->generation = generation_;
  output->entry = static_cast<std::uint32_t>(entries_.size() - 1);
}

Tensor& gradient_slot(Node& node) {
  LeafGradients* gradients = detail::thread_state().leaf_gradients;
  if (gradients == nullptr || node.tape != nullptr) return node.grad;
  Tensor* slot = gradients->slot_of(node);
  return slot != nullptr ? *slot : node.grad;
}

LeafGradients::LeafGradients(std::vector<Var> leaves) : leaves_(std::move(leaves)), grads_(leaves_.size()) {
  for (std::size_t i = 0; i < leaves_.size(); ++i) {
    if (!leaves_[i].defined() || !leaves_[i].is_leaf()) {
      throw Error(fmt::format("LeafGradients: entry {} is {}", i, leaves_[i].defined() ? "not a leaf" : "undefined"));
    }
    index_.emplace_back(leaves_[i].node(), i);
  }
  std::sort(index_.begin(), index_.end());
  for (std::size_t i = 1; i < index_.size(); ++i) {
    if (index_[i].first == index_[i - 1].first) {
      throw Error(
          fmt::format("LeafGradients: entries {} and {} are the same leaf", index_[i - 1].second, index_[i].second));
    }
  }
}

void LeafGradients::clear() {
  for (Tensor& g : grads_) g.reset();
}

Tensor* LeafGradients::slot_of(const Node& node) {
  auto it =
      std::lower_bound(index_.begin(), index_.end(), &node,
                       [](const std::pair<const Node*, std::size_t>& entry, const Node* n) { return entry.first < n; });
  return it != index_.end() && it->first == &node ? &grads_[it->second] : nullptr;
}

UseLeafGradients::UseLeafGradients(LeafGradients& gradients) : previous_(detail::thread_state().leaf_gradients) {
  detail::thread_state().leaf_gradients = &gradients;
}
UseLeafGradients::~UseLeafGradients() { detail::thread_state().leaf_gradients = previous_; }

ListenGradientReady::ListenGradientReady(GradientReadyListener& listener)
    : previous_(detail::thread_state().gradient_ready) {
  detail::thread_state().gradient_ready = &listener;
}
ListenGradientReady::~ListenGradientReady() { detail::thread_state().gradient_ready = previous_; }

void Tape::check_gathered(const TapeEntry& entry, std::span<const Var> inputs) const {
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    const Tensor& g = gradient_slot(*inputs[i].node());
    if (!inputs[i].requires_grad() || !g.defined() || all_finite(g)) continue;
    throw AnomalyError(fmt::format("anomaly: backward of {} left {} in the gradient of input {}; inputs: {}",
                                   entry_context(entry), has_nan(g) ? "NaN" : "inf", i, input_shapes(inputs)));
  }
}

void Tape::check_versions(const TapeEntry& entry, std::span<const Var> inputs) const {
  const std::uint32_t* recorded = input_versions_.data() + entry.first_input;
  auto changed = [&](const std::string& what, const Node& node, std::uint32_t then) {
    return BackwardError(fmt::format(
        "backward of {}: {} ({} {}) was changed in place after the op ran (version {} then, {} now), so its "
        "gradient would be computed from the new value; change values after backward(), or run the forward again",
        entry_context(entry), what, shape_str(node.value.shape()), dtype_name(node.value.dtype()), then, node.version));
  };
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    const Node& in = *inputs[i].node();
    if (in.version == recorded[i]) continue;
    throw changed(in.name.empty() ? fmt::format("input {}", i) : fmt::format("input {} '{}'", i, in.name), in,
                  recorded[i]);
  }
  if (entry.output->version != entry.output_version) throw changed("its output", *entry.output, entry.output_version);
}

void Tape::accumulate(Node& node, Tensor&& grad, const TapeEntry& entry, std::size_t input_index) {
  if (grad.dtype() != node.value.dtype()) {
    throw BackwardError(fmt::format("backward of {}: gradient for input {} is {} but the input is {}",
                                    entry_context(entry), input_index, dtype_name(grad.dtype()),
                                    dtype_name(node.value.dtype())));
  }
  if (grad.shape() != node.value.shape()) {
    try {
      grad = sum_to_shape(grad, node.value.shape());
    } catch (const ShapeError&) {
      throw BackwardError(fmt::format("backward of {}: gradient for input {} has shape {}, the input has shape {}",
                                      entry_context(entry), input_index, shape_str(grad.shape()),
                                      shape_str(node.value.shape())));
    }
  }
  if (is_anomaly_enabled() && !all_finite(grad)) {
    throw AnomalyError(fmt::format("anomaly: backward of {} produced {} in the gradient of input {}; inputs: {}",
                                   entry_context(entry), has_nan(grad) ? "NaN" : "inf", input_index,
                                   input_shapes(inputs_of(entry))));
  }
  Tensor& slot = gradient_slot(node);
  if (!slot.defined()) {
    slot = std::move(grad);
  } else {
    slot.add_(grad);
  }
}

namespace {

// The leaves a GradientReadyListener hears of in one pass: every leaf input of the
// entries up to the root, with the earliest entry that uses it (after whose backward
// nothing else in the walk can add to its gradient), told in walk order if an entry
// the pass ran used it.
class ReadyLeaves {
 public:
  ReadyLeaves(const Tape& tape, std::size_t last) {
    for (std::size_t k = last + 1; k-- > 0;) {  // the latest use first; earlier ones overwrite it
      for (const Var& in : tape.inputs_of(tape.entry(k))) {
        if (!in.requires_grad() || !in.is_leaf()) continue;
        auto [it, added] = index_.try_emplace(in.node(), leaves_.size());
        if (added) leaves_.push_back({0, in, false});
        leaves_[it->second].earliest = static_cast<std::uint32_t>(k);
      }
    }
    std::stable_sort(leaves_.begin(), leaves_.end(),
                     [](const Leaf& a, const Leaf& b) { return a.earliest > b.earliest; });
    for (std::size_t i = 0; i < leaves_.size(); ++i) index_[leaves_[i].var.node()] = i;
  }

  // The pass ran the backward of an op with these inputs.
  void reached(std::span<const Var> inputs) {
    for (const Var& in : inputs) {
      auto it = index_.find(in.node());
      if (it != index_.end()) leaves_[it->second].reached = true;
    }
  }

  // Calls tell(leaf) for every reached leaf whose earliest use is entry k (the walk
  // has just passed it).
  template <class F>
  void passed(std::size_t k, F&& tell) {
    for (; next_ < leaves_.size() && leaves_[next_].earliest == k; ++next_) {
      if (leaves_[next_].reached) tell(leaves_[next_].var);
    }
  }

 private:
  struct Leaf {
    std::uint32_t earliest;
    Var var;
    bool reached;
  };
  std::vector<Leaf> leaves_;
  std::unordered_map<const Node*, std::size_t> index_;
  std::size_t next_ = 0;
};

}  // namespace

void Tape::backward(const Var& root, const Tensor& seed, bool retain_graph) {
  Node& r = *root.node();
  if (!r.requires_grad) {
    throw BackwardError(
        "backward(): the value does not require grad (none of its inputs requires grad, or it was computed "
        "under NoGradGuard)");
  }
  if (!seed.defined() || seed.shape() != r.value.shape() || seed.dtype() != r.value.dtype()) {
    throw BackwardError(fmt::format("backward(): the seed gradient must have the value's shape {} and dtype {}, got {}",
                                    shape_str(r.value.shape()), dtype_name(r.value.dtype()),
                                    seed.defined() ? shape_str(seed.shape()) + " " + dtype_name(seed.dtype())
                                                   : std::string("an undefined tensor")));
  }
  GradientReadyListener* listener = detail::thread_state().gradient_ready;
  if (r.tape == nullptr) {  // a leaf: the seed is its gradient
    Tensor& slot = gradient_slot(r);
    if (!slot.defined())
      slot = seed;
    else
      slot.add_(seed);
    if (listener != nullptr) listener->gradient_ready(root, slot);
    return;
  }
  if (r.tape != this || r.generation != generation_) {
    throw BackwardError(
        "backward(): the value was recorded on a tape that has been reset since; its graph is gone (run the forward "
        "again after reset)");
  }
  if (entries_[r.entry].freed) {
    throw BackwardError(
        "backward(): this graph was already freed by an earlier backward(); pass retain_graph = true to the first "
        "backward() to run backward through it twice");
  }
  if (!r.grad.defined())
    r.grad = seed;
  else
    r.grad.add_(seed);

  // End-of-pass work is this pass's alone: dropped when the pass ends, finished or failed.
  // A failed pass also clears the gradients it left on intermediate values, which a later
  // backward on this tape would otherwise propagate again.
  pass_end_.clear();
  struct EndOfPass {
    Tape& tape;
    std::size_t last;
    bool finished = false;
    ~EndOfPass() {
      tape.pass_end_.clear();
      if (finished) return;
      for (std::size_t k = 0; k <= last; ++k) tape.entries_[k].output->grad.reset();
    }
  } end_of_pass{*this, r.entry};
  // Leaves a listener is told of as the walk passes their earliest use, and those that
  // end-of-pass work still adds to, told when it is done.
  std::optional<ReadyLeaves> ready;
  if (listener != nullptr) ready.emplace(*this, r.entry);
  std::vector<Var> ready_at_end;
  auto tell_ready = [&](std::size_t k) {
    ready->passed(k, [&](const Var& leaf) {
      const bool later = std::any_of(pass_end_.begin(), pass_end_.end(),
                                     [&](const auto& work) { return work->adds_to(*leaf.node()); });
      if (later) {
        ready_at_end.push_back(leaf);
      } else {
        listener->gradient_ready(leaf, gradient_slot(*leaf.node()));
      }
    });
  };
  for (std::size_t k = r.entry + 1; k-- > 0;) {
    TapeEntry& e = entries_[k];
    Node& out = *e.output;
    if (!out.grad.defined()) {
      if (listener != nullptr) tell_ready(k);
      continue;
    }
    if (e.freed) {
      throw BackwardError(fmt::format(
          "backward(): {} was already freed by an earlier backward(); pass retain_graph = true to the first backward()",
          entry_context(e)));
    }
    std::span<const Var> inputs = inputs_of(e);
    check_versions(e, inputs);
    grad_scratch_.resize(inputs.size());
    for (Tensor& g : grad_scratch_) g.reset();
    BackwardContext ctx(inputs, out.value, out.grad, grad_scratch_, pass_end_);
    e.backward(ctx);
    if (ready) ready->reached(inputs);
    if (is_anomaly_enabled()) check_gathered(e, inputs);
    for (std::size_t i = 0; i < inputs.size(); ++i) {
      if (!grad_scratch_[i].defined() || !inputs[i].requires_grad()) continue;
      accumulate(*inputs[i].node(), std::move(grad_scratch_[i]), e, i);
    }
    // Intermediate gradients are not kept (as in PyTorch): free them now.
    out.grad.reset();
    if (!retain_graph) {
      e.backward = nullptr;
      e.freed = true;
    }
    if (listener != nullptr) tell_ready(k);
  }
  for (Tensor& g : grad_scratch_) g.reset();
  for (const auto& work : pass_end_) work->finish();
  end_of_pass.finished = true;
  for (const Var& leaf : ready_at_end) listener->gradient_ready(leaf, gradient_slot(*leaf.node()));
}

Tape& current_tape() {
  auto& state = detail::thread_state();
  if (state.tape != nullptr) return *state.tape;
  thread_local Tape default_tape;
  return default_tape;
}

UseTape::UseTape(Tape& tape) : previous_(detail::thread_state().tape) { detail::thread_state().tape = &tape; }
UseTape::~UseTape() { detail::thread_state().tape = previous_; }

Var record(const char* op, std::span<const Var> inputs, Tensor output, BackwardFn backward, OpFlags flags) {
  auto& state = detail::thread_state();
  // Nodes come from the pool too: a training step makes thousands, all freed at the next reset.
  auto node = std::allocate_shared<Node>(PoolAllocator<Node>{}, std::move(output));
  node->scope = state.scope;
  if (state.anomaly) check_forward(op, inputs, node->value, flags);
  bool needs_grad = false;
  if (state.grad_enabled) {
    for (const Var& in : inputs) needs_grad = needs_grad || in.requires_grad();
  }
  if (!needs_grad) return Var(std::move(node));
  Tape& tape = current_tape();
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    const Node& in = *inputs[i].node();
    if (in.requires_grad && in.tape != nullptr && (in.tape != &tape || in.generation != tape.generation())) {
      throw Error(fmt::format(
          "{}: input {} was computed on a tape that has been reset (or on another tape); its graph is gone. "
          "Use detach() to carry a value across training steps",
          op_context(op), i));
    }
  }
  node->requires_grad = true;
  tape.push(op, inputs, node, std::move(backward));
  return Var(std::move(node));
}

Var record(const char* op, std::initializer_list<Var> inputs, Tensor output, BackwardFn backward, OpFlags flags) {
  return record(op, std::span<const Var>(inputs.begin(), inputs.size()), std::move(output), std::move(backward), flags);
}

}  // namespace tg
