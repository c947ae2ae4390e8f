#pragma once
/// Magnitude pruning (docs/compression.md): masks over the weights of a model's
/// products that zero the weights of smallest magnitude, per weight or across
/// all of them, in one shot or gradually.
///
///   tg::PruningMasks masks(tg::quantizable_weights(model, false));
///   for (step = ...) {
///     ... backward, optimizer.step() ...
///     if (step % 100 == 0)   // Zhu & Gupta (2017): 0 -> 80% between steps 1000 and 5000
///       masks.prune_to(tg::gradual_sparsity(step, 1000, 5000, 0.8), tg::PruneScope::global);
///     masks.apply();          // a pruned weight stays zero through every update
///   }
///
/// The masks only grow: a weight pruned once stays pruned. Their state (one 0/1
/// tensor per weight) goes into training checkpoints and comes back from them.

#include <map>
#include <string>
#include <vector>

#include "tapegrad/models/module.hpp"

namespace tg {

enum class PruneScope {
  per_layer,  ///< each weight loses its own fraction (the layers keep their proportions)
  global      ///< the smallest magnitudes of all weights together ("class-blind", See et al. 2016)
};

class PruningMasks {
 public:
  /// Masks of ones for `weights` (float matrices: quantizable_weights(m, false)).
  /// Throws Error naming a weight that is not a float32 or float64 leaf.
  explicit PruningMasks(std::vector<NamedVar> weights);

  /// Prunes to `sparsity` in [0, 1]: within each weight (per_layer) or over all
  /// of them (global), the entries of smallest |w| (ties by position) join the
  /// pruned ones until that fraction is pruned; then apply(). A sparsity below
  /// the present one prunes nothing more. Error outside [0, 1].
  void prune_to(double sparsity, PruneScope scope);
  /// w *= mask for every weight: after each optimizer step.
  void apply();
  /// Marks the entries that are exactly zero as pruned: the masks of a model
  /// pruned before (a checkpoint written after prune_to).
  void prune_zeros();

  /// The fraction pruned, over all the weights; and of the weight named `name`.
  double sparsity() const;
  double sparsity(const std::string& name) const;
  std::size_t size() const { return weights_.size(); }

  /// The masks by weight name (float 0/1 tensors of the weights' shapes).
  std::map<std::string, Tensor> state_dict() const;
  /// Restores state_dict()'s masks, all or nothing: Error naming a weight whose
  /// mask is missing, misshapen or holds values other than 0 and 1.
  void load_state_dict(const std::map<std::string, Tensor>& state);

 private:
  std::vector<NamedVar> weights_;
  std::vector<std::vector<bool>> kept_;  // per weight, per entry: not pruned
};

/// The sparsity of Zhu and Gupta's gradual schedule at `step`: `initial` before
/// `start`, `final_sparsity` from `end` on, and between them
///   s = final + (initial - final) (1 - (step - start) / (end - start))^3,
/// pruning fast at first and slowly as the network has fewer weights left.
double gradual_sparsity(std::size_t step, std::size_t start, std::size_t end, double final_sparsity,
                        double initial = 0.0);

}  // namespace tg
