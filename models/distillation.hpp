#pragma once
/// Word-level knowledge distillation of a sequence model (Hinton et al. 2015; Kim and Rush
/// 2016's "word-level" kind; docs/compression.md): the student's loss mixes its cross entropy
/// with the KL divergence from the teachers' output distribution at each target position, the
/// teachers run with teacher forcing on the same batch, without a tape.
///
///   tg::Var loss = tg::distilled_loss(student, {&teacher}, source, lengths, target_in, target_out,
///                                     {.alpha = 0.5, .temperature = 2});

#include <cstdint>
#include <span>
#include <vector>

#include "tapegrad/models/sequence_model.hpp"

namespace tg {

struct DistillOptions {
  /// The weight of the distillation term: (1 - alpha) cross entropy + alpha T^2 KL, in [0, 1].
  double alpha = 0.5;
  /// T > 0: both distributions are softmax(logits / T).
  double temperature = 2.0;
};

/// (1 - alpha) student.loss(...) + alpha distillation_loss(student's logits, the teachers'),
/// both means over the target tokens that are not padding. Several teachers (an ensemble)
/// stand for the mean of their softened distributions. The teachers must have the student's
/// target vocabulary size and padding id (Error naming both otherwise); they run in their
/// present mode (put them in eval mode) and record nothing.
Var distilled_loss(const SequenceModel& student, std::span<const SequenceModel* const> teachers, const Indices& source,
                   const std::vector<std::int64_t>& lengths, const Indices& target_in, const Indices& target_out,
                   const DistillOptions& options = {});

}  // namespace tg
