#pragma once
/// Gradient clipping, as torch.nn.utils.clip_grad_norm_ and clip_grad_value_,
/// applied to the accumulated gradients between backward() and the optimizer's
/// step(). Parameters whose gradient is undefined are skipped.

#include <limits>
#include <vector>

#include "tapegrad/autodiff/var.hpp"

namespace tg {

/// What clip_grad_norm measured and did.
struct GradNorm {
  /// The norm of all gradients together (as if concatenated); 0 with no gradient.
  double total_norm = 0;
  /// False when total_norm is NaN or infinite: the gradients were left
  /// untouched, and a training loop should skip the optimizer step.
  bool finite = true;
  /// The factor the gradients were multiplied by: max_norm / (total_norm + 1e-6)
  /// when that is below 1, otherwise 1 (also when not finite).
  double scale = 1;
};

/// Scales every defined gradient by max_norm / (total_norm + 1e-6) when that
/// is below 1, where total_norm is the norm_type-norm of the per-parameter
/// norms (norm_type = infinity: the largest |g|). Unlike PyTorch, a non-finite
/// total leaves the gradients as they are and is reported in the result.
/// Throws tg::Error for max_norm < 0 or norm_type <= 0 (or NaN).
GradNorm clip_grad_norm(const std::vector<Var>& params, double max_norm, double norm_type = 2);

/// Clamps every element of every defined gradient to [-clip, clip] (NaN stays
/// NaN). Throws tg::Error for clip < 0 (or NaN).
void clip_grad_value(const std::vector<Var>& params, double clip);

}  // namespace tg
