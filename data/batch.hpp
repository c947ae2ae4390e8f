#pragma once
/// Examples as ids, padded into the batches the zoo's Seq2Seq::loss takes
/// (models/seq2seq.hpp):
///   source      [B, S]  each example's source ids, right-padded with pad_id
///   target_in   [B, T]  [bos, y_1 .. y_n], right-padded with pad_id
///   target_out  [B, T]  [y_1 .. y_n, eos], right-padded with pad_id
///   lengths     B       source lengths
///   rows        B       the examples' indices in the dataset
/// with S the longest source and T the longest target plus one.
///
/// Batcher: the training order of an epoch, a pure function of (seed, epoch),
/// so that a run can resume at any (epoch, index):
///   1. shuffle all examples (Fisher-Yates driven by std::mt19937_64 seeded
///      with std::seed_seq{seed, epoch} as 32-bit halves; both are fully
///      specified by the C++ standard, so every platform gives the same order);
///   2. cut the shuffled order into chunks of bucket_batches * batch_size
///      examples and stable-sort each chunk by (source length, target length),
///      so that a batch holds examples of similar lengths and little padding;
///   3. cut each chunk into batches of batch_size (a chunk's last may be smaller);
///   4. shuffle the order of the batches with the same generator.
/// Every example appears in exactly one batch of every epoch.

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <span>
#include <vector>

#include "tapegrad/autodiff/tensor.hpp"
#include "tapegrad/data/error.hpp"

namespace tg {

/// One training example as ids, without BOS or EOS.
struct Example {
  std::vector<std::int64_t> source;  ///< at least one id
  std::vector<std::int64_t> target;  ///< may be empty (target_out is then just EOS)
};

/// A padded batch (see the header comment for the layout).
struct Batch {
  Indices source;                     ///< [B, S]
  Indices target_in;                  ///< [B, T]
  Indices target_out;                 ///< [B, T]
  std::vector<std::int64_t> lengths;  ///< B source lengths
  std::vector<std::size_t> rows;      ///< B indices of the examples in the dataset
  /// B, the number of examples.
  std::size_t size() const { return rows.size(); }
};

/// The special ids a batch uses (those of Vocab and Seq2SeqOptions by default).
struct BatchIds {
  std::int64_t pad_id = 0;  ///< fills source, target_in and target_out past each length
  std::int64_t bos_id = 1;  ///< first token of target_in
  std::int64_t eos_id = 2;  ///< last token of target_out
};

/// The batch of `examples[rows[0]], examples[rows[1]], ...`. Throws DataError
/// when rows is empty, a row is out of range, or an example's source is empty.
Batch make_batch(std::span<const Example> examples, std::span<const std::size_t> rows, const BatchIds& ids = {});

/// Fraction of the cells of source and target_out that hold pad_id.
double padding_fraction(const Batch& batch, std::int64_t pad_id = 0);

/// Plain in-order batching, for evaluation: rows [0, B), [B, 2B), ... of a
/// dataset of `count` examples, the last batch possibly smaller. Throws
/// DataError when batch_size is 0.
std::vector<std::vector<std::size_t>> sequential_batches(std::size_t count, std::size_t batch_size);

/// How a Batcher cuts and orders its epochs.
struct BatcherOptions {
  std::size_t batch_size = 32;      ///< at most this many examples per batch
  std::size_t bucket_batches = 50;  ///< batches per length-sorted chunk (1: no bucketing beyond one batch)
  std::uint64_t seed = 0;           ///< with the epoch, fixes the order
  BatchIds ids{};                   ///< pad, bos and eos ids
};

/// Training batches in a shuffled, length-bucketed order (see the header comment).
/// Holds a lock for its plan cache, so it is neither copied nor moved.
class Batcher {
 public:
  /// Takes the dataset. Throws DataError when it is empty, when batch_size or
  /// bucket_batches is 0, or when an example's source is empty (naming its row).
  Batcher(std::vector<Example> examples, BatcherOptions options);

  /// The dataset.
  const std::vector<Example>& examples() const { return examples_; }
  /// The options it was built with.
  const BatcherOptions& options() const { return options_; }

  /// Batches in every epoch (the same for all epochs).
  std::size_t batches_per_epoch() const { return batches_per_epoch_; }
  /// The rows of every batch of `epoch`, in training order.
  std::vector<std::vector<std::size_t>> plan(std::uint64_t epoch) const;
  /// Batch `index` of `epoch`. The plan of the last epoch asked for is
  /// cached (under a lock), so a loop over one epoch shuffles once. Throws
  /// IndexError when index >= batches_per_epoch().
  Batch batch(std::uint64_t epoch, std::size_t index) const;

  /// The in-order batches of the dataset (sequential_batches), for evaluation.
  std::vector<std::vector<std::size_t>> in_order() const;
  /// make_batch over `rows` of this dataset with this batcher's ids.
  Batch batch_of(std::span<const std::size_t> rows) const;

 private:
  std::vector<Example> examples_;
  BatcherOptions options_;
  std::size_t batches_per_epoch_ = 0;
  mutable std::mutex cache_mutex_;
  mutable bool cached_ = false;
  mutable std::uint64_t cached_epoch_ = 0;
  mutable std::vector<std::vector<std::size_t>> cached_plan_;
};

}  // namespace tg
