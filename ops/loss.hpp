#pragma once
/// Losses, each one primitive with a fused backward.

#include <cstdint>

#include "tapegrad/autodiff/var.hpp"

namespace tg {

/// How a loss over many targets becomes its result.
enum class Reduction { none, sum, mean };

struct CrossEntropyOptions {
  /// Targets equal to this contribute neither loss nor gradient (PyTorch's default, -100).
  std::int64_t ignore_index = -100;
  /// eps in [0, 1]: the target distribution is (1 - eps) one_hot(target) + eps / C.
  double label_smoothing = 0.0;
  /// none: one loss per target; sum; mean over the targets that are not ignored.
  Reduction reduction = Reduction::mean;
};

/// Cross entropy of `logits` [..., C] against class indices `targets` [...]:
/// loss = (1 - eps) (-log p_target) + eps mean_c(-log p_c) with p = softmax(logits).
/// The class dimension is the LAST one (PyTorch puts it at dim 1).
/// Semantics otherwise follow torch.nn.functional.cross_entropy, except that a
/// mean over no targets (all ignored, or none at all) is 0 with zero gradient,
/// where PyTorch returns NaN.
/// Throws IndexError naming the target, its position and C for a target outside
/// [0, C) that is not ignore_index.
Var cross_entropy(const Var& logits, const Indices& targets, const CrossEntropyOptions& options = {});

struct DistillationOptions {
  /// T > 0: both distributions are softmax(logits / T).
  double temperature = 1.0;
  /// Positions whose target equals this contribute neither loss nor gradient (padding).
  std::int64_t ignore_index = -100;
  /// none: one loss per position; sum; mean over the positions that are not ignored.
  Reduction reduction = Reduction::mean;
};

/// Word-level knowledge distillation (Hinton et al. 2015): the KL divergence from the
/// teacher's distribution to the student's at temperature T, times T^2 (so that its
/// gradients keep their scale as T changes), at every position:
///   loss = T^2 sum_c q_c (log q_c - log p_c),  q = softmax(teacher / T), p = softmax(student / T)
/// as T^2 torch.nn.functional.kl_div(log_softmax(student / T), softmax(teacher / T)) summed over
/// the classes. student_logits [..., C]; teacher_logits the same shape, a constant (no gradient
/// reaches it); targets [...] only mark the ignored positions. dstudent = T (p - q) w.
/// Throws ShapeError naming the shapes when they differ, Error for T <= 0.
Var distillation_loss(const Var& student_logits, const Tensor& teacher_logits, const Indices& targets,
                      const DistillationOptions& options = {});

}  // namespace tg
