#pragma once
/// Module: the base of every model in models/, in PyTorch's shape.
///
/// A module owns named parameters (Vars that are leaves and require grad) and
/// named child modules. Full names join with dots ("encoder.lstm.weight_ih_l0")
/// and match PyTorch's state-dict keys wherever a PyTorch module of the same
/// kind exists, so weights move between the two engines by name.
///
///   class Affine : public tg::Module {
///    public:
///     Affine(std::size_t in, std::size_t out) {
///       register_parameter("weight", weight, tg::Tensor::zeros({out, in}));
///     }
///     tg::Var weight;  // [out, in]
///   };
///
/// Modules are neither copied nor moved: the registry points at their members.
/// copy_as() makes a copy (in another dtype, say) of any module with options().

#include <cstddef>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "tapegrad/autodiff/gradcheck.hpp"
#include "tapegrad/autodiff/var.hpp"
#include "tapegrad/base/generator.hpp"

namespace tg {

struct NamedVar {
  std::string name;
  Var var;
};
struct NamedTensor {
  std::string name;
  Tensor value;
};
/// Parameter values by full name, in named_parameters() order.
using StateDict = std::vector<NamedTensor>;

/// What a non-strict load_state_dict left out.
struct LoadResult {
  std::vector<std::string> missing_keys;     ///< parameters the state dict did not have (left unchanged)
  std::vector<std::string> unexpected_keys;  ///< entries of the state dict that name no parameter
};

/// How load_state_dict matches a state dict to the parameters.
struct LoadOptions {
  /// A missing or an unexpected key is an error (all of them listed); otherwise they are
  /// returned in the LoadResult.
  bool strict = true;
  /// A value of another dtype is an error. Otherwise it is converted to the parameter's
  /// dtype, as PyTorch's load_state_dict (a copy_ into the parameter) does: a float64 state
  /// dict loads into a float32 model, rounded to nearest.
  bool strict_dtype = false;
};

class Module {
 public:
  virtual ~Module();
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  /// Every parameter with its full dotted name: this module's own first, in
  /// registration order, then each child's, depth first (PyTorch's order).
  std::vector<NamedVar> named_parameters() const;
  std::vector<Var> parameters() const;
  /// Number of parameter elements (weights), summed over the whole tree.
  std::size_t parameter_count() const;
  /// Direct children with their names, in registration order.
  const std::vector<std::pair<std::string, Module*>>& children() const { return children_; }

  /// Training mode (dropout active) for this module and every descendant.
  void train(bool training = true);
  void eval() { train(false); }
  bool is_training() const { return training_; }

  /// Converts every parameter's value to `dtype` in place (the same Vars, so
  /// handles held elsewhere stay valid; optimizer state does not follow).
  void to(DType dtype);
  /// dtype of the parameters (float32 for a module without parameters).
  DType dtype() const;
  /// Makes every parameter's gradient undefined.
  void zero_grad();

  /// Copies of the parameter values under their full names.
  StateDict state_dict() const;
  /// Copies values from `state` into the parameters, matched by full name, each
  /// converted to its parameter's dtype (LoadOptions). All or nothing: every key,
  /// shape and dtype is checked before any value changes, and an error names each
  /// offending key. A shape that differs is always an error.
  LoadResult load_state_dict(const StateDict& state, const LoadOptions& options = {});

  /// Makes each parameter of this module the very Var (the same node: one value,
  /// one gradient) of the parameter of `source` with the same full name: a replica
  /// that computes with the model's values without copies (DataParallel, whose
  /// threads keep their gradients apart with LeafGradients). All or nothing:
  /// names, shapes and dtypes must match one to one, and an Error lists those that
  /// do not.
  void share_parameters(const Module& source);

  /// "tg::LSTM": the C++ type name, for messages and gradcheck coverage.
  std::string type_name() const;

 protected:
  Module() = default;

  /// Makes `slot` a parameter named `name` holding `value`. `slot` must be a
  /// member of this module that outlives the registration (its address is kept).
  void register_parameter(const std::string& name, Var& slot, Tensor value);
  /// Registers `child` (a member of this module) under `name`; its
  /// parameters' Var names get the prefix "name.".
  void register_module(const std::string& name, Module& child);

 private:
  friend GradcheckReport gradcheck(Module&, const std::function<Var(const std::vector<Var>&)>&,
                                   const std::vector<Tensor>&, const GradcheckOptions&);
  void collect(const std::string& prefix, std::vector<std::pair<std::string, Var*>>& out) const;
  std::vector<std::pair<std::string, Var*>> slots() const;
  void rename_parameters(const std::string& prefix);

  std::vector<std::pair<std::string, Var*>> params_;
  std::vector<std::pair<std::string, Module*>> children_;
  bool training_ = true;
};

namespace detail {

/// What every copy_as does once it has built `copy` from m's configuration: m's values, then
/// `dtype`, and m's mode.
void become_copy(Module& copy, const Module& m, DType dtype);

}  // namespace detail

/// A copy of `m` with its own parameters (same values) converted to `dtype`:
/// the float64 twin of a model for gradcheck. M must be constructible from
/// m.options() (every module in models/ is).
template <class M>
std::unique_ptr<M> copy_as(const M& m, DType dtype) {
  Generator scratch(0);  // the copy's initial values are overwritten below
  auto copy = std::make_unique<M>(m.options(), scratch);
  detail::become_copy(*copy, m, dtype);
  return copy;
}

/// Gradient check of a whole module: the gradients of f with respect to every
/// parameter of `m` and to `inputs` against float64 central differences.
/// f(xs) receives the extra inputs as float64 leaves and computes with the
/// module (whose parameters stand in for gradcheck's leaves during the call).
/// The module must be float64 (copy_as(m, DType::f64)) and in a mode without
/// randomness (eval(), or dropout 0). On a pass, the type names of `m` and of
/// its descendants join gradchecked_modules().
GradcheckReport gradcheck(Module& m, const std::function<Var(const std::vector<Var>&)>& f,
                          const std::vector<Tensor>& inputs = {}, const GradcheckOptions& options = {});

/// Type names ("tg::LSTM") of every module that a passing module gradcheck in
/// this process has covered.
const std::set<std::string>& gradchecked_modules();

}  // namespace tg
