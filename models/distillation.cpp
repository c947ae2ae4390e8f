#include "tapegrad/models/distillation.hpp"

#include <cmath>

#include <fmt/format.h>

#include "tapegrad/autodiff/mode.hpp"
#include "tapegrad/autodiff/scope.hpp"
#include "tapegrad/ops/elementwise.hpp"
#include "tapegrad/ops/loss.hpp"
#include "tapegrad/ops/softmax.hpp"

namespace tg {
namespace {

// The teachers' logits as one teacher's: T log(mean_k softmax(t_k / T)), whose softmax at T is the
// mean of theirs.
Tensor teachers_logits(std::span<const SequenceModel* const> teachers, const Indices& source,
                       const std::vector<std::int64_t>& lengths, const Indices& target_in, double temperature) {
  NoGradGuard no_grad;
  if (teachers.size() == 1) return teachers[0]->forward(source, lengths, target_in).value();
  Var mean;
  for (const SequenceModel* t : teachers) {
    Var p = softmax(mul(t->forward(source, lengths, target_in), 1.0 / temperature), -1);
    mean = mean.defined() ? add(mean, p) : p;
  }
  return mul(log(mul(mean, 1.0 / double(teachers.size()))), temperature).value();
}

}  // namespace

Var distilled_loss(const SequenceModel& student, std::span<const SequenceModel* const> teachers, const Indices& source,
                   const std::vector<std::int64_t>& lengths, const Indices& target_in, const Indices& target_out,
                   const DistillOptions& options) {
  if (!(options.alpha >= 0 && options.alpha <= 1)) {
    throw Error(fmt::format("distilled_loss: alpha {} is outside [0, 1]", options.alpha));
  }
  if (teachers.empty()) throw Error("distilled_loss: no teacher");
  const DecodingVocabulary v = student.vocabulary();
  for (const SequenceModel* t : teachers) {
    const DecodingVocabulary tv = t->vocabulary();
    if (tv.target_size != v.target_size || tv.pad_id != v.pad_id) {
      throw Error(
          fmt::format("distilled_loss: a teacher ({}) has {} target tokens and padding id {}, the student "
                      "({}) {} and {}",
                      t->type_name(), tv.target_size, tv.pad_id, student.type_name(), v.target_size, v.pad_id));
    }
  }
  const Tensor teacher = teachers_logits(teachers, source, lengths, target_in, options.temperature);
  Var logits = student.forward(source, lengths, target_in);
  NameScope scope("loss");
  Var ce = cross_entropy(
      logits, target_out,
      {.ignore_index = v.pad_id, .label_smoothing = student.label_smoothing(), .reduction = Reduction::mean});
  if (options.alpha == 0) return ce;
  Var kd =
      distillation_loss(logits, teacher, target_out, {.temperature = options.temperature, .ignore_index = v.pad_id});
  if (options.alpha == 1) return kd;
  return add(mul(ce, 1 - options.alpha), mul(kd, options.alpha));
}

}  // namespace tg
