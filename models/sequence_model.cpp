#include "tapegrad/models/sequence_model.hpp"

namespace tg {

std::unique_ptr<SequenceModel> copy_as(const SequenceModel& m, DType dtype) {
  Generator scratch(0);  // the copy's initial values are overwritten below
  std::unique_ptr<SequenceModel> copy = m.make_fresh(scratch);
  detail::become_copy(*copy, m, dtype);
  return copy;
}

}  // namespace tg
