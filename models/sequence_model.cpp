#include "tapegrad/models/sequence_model.hpp"

#include <fmt/format.h>

#include "tapegrad/autodiff/scope.hpp"
#include "tapegrad/ops/loss.hpp"

namespace tg {

Var SequenceModel::loss(const Indices& source, const std::vector<std::int64_t>& lengths, const Indices& target_in,
                        const Indices& target_out) const {
  if (target_out.shape() != target_in.shape()) {
    throw ShapeError(fmt::format("{}::loss: target_out {} must have target_in's shape {}", type_name(),
                                 ids_shape_str(target_out), ids_shape_str(target_in)));
  }
  Var logits = forward(source, lengths, target_in);
  NameScope scope("loss");
  return cross_entropy(
      logits, target_out,
      {.ignore_index = vocabulary().pad_id, .label_smoothing = label_smoothing(), .reduction = Reduction::mean});
}

std::unique_ptr<SequenceModel> copy_as(const SequenceModel& m, DType dtype) {
  Generator scratch(0);  // the copy's initial values are overwritten below
  std::unique_ptr<SequenceModel> copy = m.make_fresh(scratch);
  detail::become_copy(*copy, m, dtype);
  return copy;
}

}  // namespace tg
