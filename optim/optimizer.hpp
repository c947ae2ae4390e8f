#pragma once
/// Optimizer: the base of every optimizer in optim/, and TypedOptimizer, the
/// layer between it and each optimizer that holds the optimizer's options and
/// per-parameter state.
///
/// An optimizer holds shared handles to the parameters it updates (leaves that
/// require grad), split into parameter groups that each have their own learning
/// rate and weight decay (torch.optim's param_groups). A training step reads
/// each parameter's accumulated gradient and updates its value in place;
/// parameters whose gradient is undefined (no backward reached them) are
/// skipped, their state untouched, as PyTorch skips parameters whose grad is None.

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "tapegrad/autodiff/var.hpp"

namespace tg {

/// Parameters that share a learning rate and a weight decay, as one entry of
/// torch.optim's param_groups. Unset values take the optimizer's options.
///
///   tg::AdamW opt({{.params = weights}, {.params = biases, .weight_decay = 0.0}}, {.lr = 3e-4});
struct ParamGroup {
  /// The group's parameters; a group may be empty, but not every group.
  std::vector<Var> params{};
  /// Learning rate of the group, >= 0; unset: the options' lr.
  std::optional<double> lr{};
  /// Weight decay of the group, >= 0; unset: the options' weight_decay (for
  /// AdamW, and Adam with decoupled_weight_decay, the decoupled decay; for the
  /// others the L2 penalty added to the gradient).
  std::optional<double> weight_decay{};
};

/// The learning rate and weight decay in force for one group.
struct GroupSettings {
  /// Current learning rate (what set_group_lr and schedules change).
  double lr = 0;
  /// Weight decay; fixed at construction.
  double weight_decay = 0;
};

class Optimizer {
 public:
  virtual ~Optimizer();
  Optimizer(const Optimizer&) = delete;
  Optimizer& operator=(const Optimizer&) = delete;

  /// One update of every parameter whose gradient is defined.
  virtual void step() = 0;
  /// Makes every parameter's gradient undefined (PyTorch's set_to_none), so
  /// the next backward starts from nothing and unreached parameters are skipped.
  void zero_grad();

  /// Learning rate of group 0.
  double lr() const { return groups_[0].lr; }
  /// Sets the learning rate of every group (must be >= 0).
  void set_lr(double lr);
  /// Number of parameter groups (1 when built from a plain parameter list).
  std::size_t group_count() const { return groups_.size(); }
  /// Learning rate of group g; IndexError if g is out of range.
  double group_lr(std::size_t g) const;
  /// Sets the learning rate of group g (>= 0) for the following steps.
  void set_group_lr(std::size_t g, double lr);
  /// Weight decay of group g; IndexError if g is out of range.
  double group_weight_decay(std::size_t g) const;
  /// Group of parameter i (the order of parameters()); IndexError if out of range.
  std::size_t group_of(std::size_t i) const;
  /// Group of `param`; IndexError if it is not one of parameters().
  std::size_t group_of(const Var& param) const;
  /// Every parameter, group after group, in the order given.
  const std::vector<Var>& parameters() const { return params_; }
  /// "Adam", "Sgd": the name errors start with.
  const char* name() const { return name_; }

  /// The state needed to resume training bitwise: per parameter i that has
  /// state, "param.<i>.<buffer>" (a copy, its shape and dtype) and
  /// "param.<i>.step" (a float64 scalar) where the optimizer counts steps; per
  /// group g, "group.<g>.lr" (float64 scalar). See docs/optim.md.
  std::map<std::string, Tensor> state_dict() const;
  /// Restores what state_dict() saved, into an optimizer of the same kind and
  /// options over parameters of the same shapes and dtypes. All or nothing:
  /// throws tg::Error naming every missing or unexpected key and every shape,
  /// dtype or value that does not fit, before anything changes. A parameter
  /// with no "param.<i>." key gets fresh state (it had not stepped yet).
  void load_state_dict(const std::map<std::string, Tensor>& state);

 protected:
  /// Throws tg::Error if there is no parameter at all, a parameter is an
  /// undefined Var, a value that is not a leaf or does not require grad, or
  /// appears twice (in one group or two), or a group's lr or weight_decay is < 0.
  Optimizer(const char* name, std::vector<ParamGroup> groups, double lr, double weight_decay);
  /// `params` as the one group of an optimizer built from a plain parameter list.
  static std::vector<ParamGroup> one_group(std::vector<Var> params);

  /// One named piece of a parameter's state: a tensor buffer (shaped as the
  /// parameter) or a step count. Exactly one of the pointers is set.
  struct StateEntry {
    /// The key's last part: "exp_avg", "step".
    const char* name = nullptr;
    /// A buffer shaped as the parameter; undefined while the state is fresh.
    Tensor* tensor = nullptr;
    /// A step count; 0 while the state is fresh.
    std::int64_t* count = nullptr;
  };
  /// Every entry parameter i's state has once created, with these options
  /// (counts first). The state exists when the first entry is a count > 0
  /// or a defined tensor; otherwise it is fresh. Called by state_dict (only
  /// to read) and load_state_dict.
  virtual std::vector<StateEntry> state_entries(std::size_t i) = 0;

  /// Learning rate and weight decay for parameter i's update.
  const GroupSettings& settings(std::size_t i) const { return groups_[group_of_[i]]; }
  /// The gradient step() should use for parameter i: null when it is
  /// undefined (skip the parameter); throws if its shape or dtype differs
  /// from the parameter's value.
  const Tensor* gradient(std::size_t i) const;
  /// Throws if a state buffer of parameter i no longer fits its value (the
  /// value was replaced by one of another shape or dtype after the first step).
  void check_state(std::size_t i, const Tensor& buffer, const char* buffer_name) const;
  /// Throws unless value >= 0 (NaN included), naming the option.
  void check_non_negative(const char* option, double value) const;
  /// Throws unless low <= value <= high (NaN included), naming the option.
  void check_range(const char* option, double value, double low, double high) const;
  /// "parameter 1 ('fc.weight', shape [3, 4], float32)": how errors name a parameter.
  std::string describe(std::size_t i) const;
  /// Throws IndexError unless i < parameters().size(); for state accessors.
  void check_index(std::size_t i) const;
  /// Index of `param` (the same node) in parameters(); throws if absent.
  std::size_t index_of(const Var& param) const;

  std::vector<Var> params_;

 private:
  void check_group(std::size_t g) const;

  const char* name_;
  std::vector<GroupSettings> groups_;
  std::vector<std::size_t> group_of_;
};

/// What every optimizer adds to Optimizer the same way: its options and one
/// State per parameter, with their accessors. An optimizer derives from
/// TypedOptimizer<ItsOptions, ItsState>, checks its own options in its
/// constructor, and defines its update (step) and the names of its state
/// (state_entries). Options has at least `lr` and `weight_decay`; State is
/// default-constructed fresh and filled by the parameter's first step.
template <class Options, class State>
class TypedOptimizer : public Optimizer {
 public:
  /// The options, with group 0's lr (as set_lr() left it) and weight_decay.
  Options options() const {
    Options o = options_;
    o.lr = lr();
    o.weight_decay = group_weight_decay(0);
    return o;
  }
  /// State of parameter i (the order of parameters()); IndexError if out of range.
  const State& state(std::size_t i) const {
    check_index(i);
    return state_[i];
  }
  /// State of `param`; IndexError if it is not one of parameters().
  const State& state(const Var& param) const { return state_[index_of(param)]; }

 protected:
  /// Throws as Optimizer's constructor does, for lr and weight_decay too.
  TypedOptimizer(const char* name, std::vector<ParamGroup> groups, const Options& options)
      : Optimizer(name, std::move(groups), options.lr, options.weight_decay),
        options_(options),
        state_(parameters().size()) {}

  Options options_;
  /// Per parameter, in the order of parameters().
  std::vector<State> state_;
};

}  // namespace tg
