#pragma once
/// TransformerSeq2Seq's state during a search (decoding_model.hpp): per decoder layer, the
/// encoder output's cross-attention keys and values, projected once per search, and the
/// self-attention keys and values of every position decoded so far (the key/value cache, as
/// fairseq's incremental state), all following the search's rows through reorder.

#include <cstddef>
#include <cstdint>
#include <vector>

#include "tapegrad/models/attention.hpp"
#include "tapegrad/models/decoding_model.hpp"

namespace tg {

struct TransformerDecodingState : DecodingState {
  /// Per decoder layer: multihead_attn.prepare(memory, memory, padding), keys and values
  /// [rows * heads, S, d] with the source padding.
  std::vector<AttentionMemory> cross;
  /// Per decoder layer: self_attn's keys and values of positions 0 .. steps - 1,
  /// [rows * heads, steps, d]; empty before the first step.
  std::vector<AttentionMemory> cache;
  std::size_t steps = 0;  ///< positions decoded: the next one is at position `steps`
  /// Without the key/value cache (TransformerSeq2Seq::key_value_cache false): the tokens fed so
  /// far, [rows, steps], which every step runs the decoder over again.
  Indices prefix;
  /// Each row's sentence in the encoded batch: a reorder that keeps it (beam search's, within
  /// each sentence's beams) leaves the cross-attention memory as it is.
  std::vector<std::int64_t> sentence;
};

/// Rows `rows` (repeats allowed) of a multi-head memory whose keys and values are [N * heads,
/// S, d], row r's heads at r * heads .. r * heads + heads - 1: keys, values, padding and
/// score_padding follow, the query projection is shared.
AttentionMemory take_rows(const AttentionMemory& memory, const Indices& rows, std::size_t heads);

}  // namespace tg
