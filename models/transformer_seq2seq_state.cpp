#include "tapegrad/models/transformer_seq2seq_state.hpp"

#include <algorithm>

#include "tapegrad/models/seq2seq_state.hpp"

namespace tg {

AttentionMemory take_rows(const AttentionMemory& memory, const Indices& rows, std::size_t heads) {
  Indices head_rows = Indices(std::vector<std::size_t>{rows.size() * heads}, std::int64_t{});
  for (std::size_t r = 0; r < rows.size(); ++r) {
    for (std::size_t j = 0; j < heads; ++j) head_rows(r * heads + j) = rows(r) * static_cast<std::int64_t>(heads) + j;
  }
  AttentionMemory out = memory;
  out.keys = take_rows(memory.keys, head_rows);
  out.values = take_rows(memory.values, head_rows);
  out.batch = rows.size();
  auto gather = [](const Mask& mask, const Indices& picked) {
    if (is_empty_mask(mask)) return mask;
    std::vector<std::size_t> shape(mask.shape().begin(), mask.shape().end());
    const std::size_t width = mask.size() / shape[0];
    shape[0] = picked.size();
    Mask kept = Mask(shape, false);
    for (std::size_t r = 0; r < picked.size(); ++r) {
      std::copy_n(mask.data() + static_cast<std::size_t>(picked(r)) * width, width, kept.data() + r * width);
    }
    return kept;
  };
  out.padding = gather(memory.padding, rows);
  out.score_padding = gather(memory.score_padding, head_rows);
  return out;
}

}  // namespace tg
