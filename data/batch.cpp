#include "tapegrad/data/batch.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstdint>
#include <numeric>
#include <random>

namespace tg {

namespace {

// A uniform draw from [0, n), n > 0, without modulo bias: draws below
// 2^64 mod n are rejected, leaving a whole number of copies of [0, n).
std::uint64_t draw_below(std::mt19937_64& rng, std::uint64_t n) {
  const std::uint64_t reject_below = (0 - n) % n;  // 2^64 mod n
  for (;;) {
    const std::uint64_t r = rng();
    if (r >= reject_below) return r % n;
  }
}

// Fisher-Yates, from the back.
template <class T>
void shuffle_in_place(std::vector<T>& v, std::mt19937_64& rng) {
  for (std::size_t i = v.size(); i > 1; --i) {
    const std::size_t j = static_cast<std::size_t>(draw_below(rng, i));
    std::swap(v[i - 1], v[j]);
  }
}

std::mt19937_64 epoch_generator(std::uint64_t seed, std::uint64_t epoch) {
  std::seed_seq seq{static_cast<std::uint32_t>(seed), static_cast<std::uint32_t>(seed >> 32),
                    static_cast<std::uint32_t>(epoch), static_cast<std::uint32_t>(epoch >> 32)};
  return std::mt19937_64(seq);
}

// ceil(a / b) without a + b - 1, which overflows for b near 2^64.
std::size_t ceil_div(std::size_t a, std::size_t b) { return a / b + (a % b != 0); }

// Examples per length-sorted chunk: batch_size * bucket_batches, or, when that
// overflows, more than any dataset holds (so the whole dataset is one chunk).
std::size_t chunk_size(const BatcherOptions& o) {
  std::size_t chunk = 0;
  return __builtin_mul_overflow(o.batch_size, o.bucket_batches, &chunk) ? SIZE_MAX : chunk;
}

}  // namespace

Batch make_batch(std::span<const Example> examples, std::span<const std::size_t> rows, const BatchIds& ids) {
  if (rows.empty()) throw DataError("make_batch: no rows");
  std::size_t s_len = 0, t_len = 0;
  for (std::size_t row : rows) {
    if (row >= examples.size()) {
      throw DataError(fmt::format("make_batch: row {} is outside the dataset of {} examples", row, examples.size()));
    }
    const Example& e = examples[row];
    if (e.source.empty()) throw DataError(fmt::format("make_batch: example {} has an empty source", row));
    s_len = std::max(s_len, e.source.size());
    t_len = std::max(t_len, e.target.size() + 1);
  }
  const std::size_t b = rows.size();
  Batch batch;
  batch.source = Indices::from_shape({b, s_len});
  batch.target_in = Indices::from_shape({b, t_len});
  batch.target_out = Indices::from_shape({b, t_len});
  batch.source.fill(ids.pad_id);
  batch.target_in.fill(ids.pad_id);
  batch.target_out.fill(ids.pad_id);
  batch.lengths.reserve(b);
  batch.rows.assign(rows.begin(), rows.end());
  for (std::size_t i = 0; i < b; ++i) {
    const Example& e = examples[rows[i]];
    for (std::size_t t = 0; t < e.source.size(); ++t) batch.source(i, t) = e.source[t];
    batch.target_in(i, 0) = ids.bos_id;
    for (std::size_t t = 0; t < e.target.size(); ++t) {
      batch.target_in(i, t + 1) = e.target[t];
      batch.target_out(i, t) = e.target[t];
    }
    batch.target_out(i, e.target.size()) = ids.eos_id;
    batch.lengths.push_back(static_cast<std::int64_t>(e.source.size()));
  }
  return batch;
}

double padding_fraction(const Batch& batch, std::int64_t pad_id) {
  const std::size_t cells = batch.source.size() + batch.target_out.size();
  if (cells == 0) return 0.0;
  const auto pads = std::count(batch.source.begin(), batch.source.end(), pad_id) +
                    std::count(batch.target_out.begin(), batch.target_out.end(), pad_id);
  return static_cast<double>(pads) / static_cast<double>(cells);
}

std::vector<std::vector<std::size_t>> sequential_batches(std::size_t count, std::size_t batch_size) {
  if (batch_size == 0) throw DataError("sequential_batches: batch_size is 0");
  std::vector<std::vector<std::size_t>> batches;
  batches.reserve(ceil_div(count, batch_size));
  for (std::size_t begin = 0; begin < count; begin += batch_size) {
    std::vector<std::size_t> rows(std::min(batch_size, count - begin));
    std::iota(rows.begin(), rows.end(), begin);
    batches.push_back(std::move(rows));
  }
  return batches;
}

Batcher::Batcher(std::vector<Example> examples, BatcherOptions options)
    : examples_(std::move(examples)), options_(options) {
  if (examples_.empty()) throw DataError("Batcher: the dataset is empty");
  if (options_.batch_size == 0) throw DataError("Batcher: batch_size is 0");
  if (options_.bucket_batches == 0) throw DataError("Batcher: bucket_batches is 0");
  for (std::size_t row = 0; row < examples_.size(); ++row) {
    if (examples_[row].source.empty()) throw DataError(fmt::format("Batcher: example {} has an empty source", row));
  }
  const std::size_t chunk = chunk_size(options_);
  const std::size_t n = examples_.size();
  batches_per_epoch_ = (n / chunk) * options_.bucket_batches + ceil_div(n % chunk, options_.batch_size);
}

std::vector<std::vector<std::size_t>> Batcher::plan(std::uint64_t epoch) const {
  std::mt19937_64 rng = epoch_generator(options_.seed, epoch);
  std::vector<std::size_t> order(examples_.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  shuffle_in_place(order, rng);

  const std::size_t chunk = chunk_size(options_);
  std::vector<std::vector<std::size_t>> batches;
  batches.reserve(batches_per_epoch_);
  // Ends as begin + min(step, what is left): begin + step may overflow.
  for (std::size_t begin = 0, end = 0; begin < order.size(); begin = end) {
    end = begin + std::min(chunk, order.size() - begin);
    std::stable_sort(order.begin() + static_cast<std::ptrdiff_t>(begin),
                     order.begin() + static_cast<std::ptrdiff_t>(end), [this](std::size_t a, std::size_t b) {
                       const Example& x = examples_[a];
                       const Example& y = examples_[b];
                       if (x.source.size() != y.source.size()) return x.source.size() < y.source.size();
                       return x.target.size() < y.target.size();
                     });
    for (std::size_t b = begin, e = 0; b < end; b = e) {
      e = b + std::min(options_.batch_size, end - b);
      batches.emplace_back(order.begin() + static_cast<std::ptrdiff_t>(b),
                           order.begin() + static_cast<std::ptrdiff_t>(e));
    }
  }
  shuffle_in_place(batches, rng);
  return batches;
}

Batch Batcher::batch(std::uint64_t epoch, std::size_t index) const {
  if (index >= batches_per_epoch_) {
    throw IndexError(fmt::format("Batcher: batch {} of epoch {} does not exist; an epoch has {} batches", index, epoch,
                                 batches_per_epoch_));
  }
  std::lock_guard<std::mutex> lock(cache_mutex_);
  if (!cached_ || cached_epoch_ != epoch) {
    cached_plan_ = plan(epoch);
    cached_epoch_ = epoch;
    cached_ = true;
  }
  return batch_of(cached_plan_[index]);
}

std::vector<std::vector<std::size_t>> Batcher::in_order() const {
  return sequential_batches(examples_.size(), options_.batch_size);
}

Batch Batcher::batch_of(std::span<const std::size_t> rows) const { return make_batch(examples_, rows, options_.ids); }

}  // namespace tg
