// Padded batches as Seq2Seq::loss takes them, and the Batcher's epochs:
// coverage, determinism, resumption, and small padding.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "data_helpers.hpp"
#include "tapegrad/data/batch.hpp"

using namespace tg;
using namespace tg::test;

namespace {

// Sources of 1..40 ids, targets within 3 of the source's length (as in G2P or
// translation, where the two lengths go together).
std::vector<Example> random_examples(std::size_t count, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<Example> examples(count);
  for (std::size_t i = 0; i < count; ++i) {
    const std::size_t s = 1 + rng() % 40, t = std::max<std::size_t>(s + rng() % 7, 3) - 3;
    for (std::size_t k = 0; k < s; ++k) examples[i].source.push_back(static_cast<std::int64_t>(4 + rng() % 50));
    for (std::size_t k = 0; k < t; ++k) examples[i].target.push_back(static_cast<std::int64_t>(4 + rng() % 50));
  }
  return examples;
}

double mean_padding(const Batcher& batcher, const std::vector<std::vector<std::size_t>>& plan) {
  double sum = 0.0;
  for (const auto& rows : plan) sum += padding_fraction(batcher.batch_of(rows));
  return sum / static_cast<double>(plan.size());
}

}  // namespace

TEST_CASE("make_batch pads as Seq2Seq::loss expects") {
  const std::vector<Example> examples{{{7, 8, 9}, {5}}, {{6}, {10, 11, 12}}, {{4, 4}, {}}};
  const std::vector<std::size_t> rows{2, 0, 1};
  const Batch b = make_batch(examples, rows);
  CHECK(b.size() == 3);
  CHECK(b.rows == rows);
  CHECK(b.lengths == std::vector<std::int64_t>{2, 3, 1});
  CHECK(b.source == Indices{{4, 4, 0}, {7, 8, 9}, {6, 0, 0}});
  CHECK(b.target_in == Indices{{1, 0, 0, 0}, {1, 5, 0, 0}, {1, 10, 11, 12}});
  CHECK(b.target_out == Indices{{2, 0, 0, 0}, {5, 2, 0, 0}, {10, 11, 12, 2}});
  // Padding: 1 + 0 + 2 cells of source's 9, 3 + 2 + 0 of target_out's 12.
  CHECK(padding_fraction(b) == doctest::Approx(8.0 / 21.0));

  const Batch other = make_batch(examples, std::vector<std::size_t>{0}, {.pad_id = 9, .bos_id = 7, .eos_id = 8});
  CHECK(other.target_in == Indices{{7, 5}});
  CHECK(other.target_out == Indices{{5, 8}});
}

TEST_CASE("make_batch refuses what it cannot pack") {
  const std::vector<Example> examples{{{7}, {5}}, {{}, {5}}};
  expect_error<DataError>([&] { make_batch(examples, std::vector<std::size_t>{}); }, {"no rows"});
  expect_error<DataError>(
      [&] {
        make_batch(examples, std::vector<std::size_t>{0, 2});
      },
      {"row 2 is outside the dataset of 2 examples"});
  expect_error<DataError>([&] { make_batch(examples, std::vector<std::size_t>{1}); },
                          {"example 1 has an empty source"});
}

TEST_CASE("sequential batches cover the rows in order") {
  const auto batches = sequential_batches(7, 3);
  CHECK(batches == std::vector<std::vector<std::size_t>>{{0, 1, 2}, {3, 4, 5}, {6}});
  CHECK(sequential_batches(0, 3).empty());
  expect_error<DataError>([] { sequential_batches(4, 0); }, {"batch_size is 0"});
}

TEST_CASE("every example appears exactly once per epoch") {
  const Batcher batcher(random_examples(1003, 1), {.batch_size = 16, .bucket_batches = 5, .seed = 42});
  // 1003 = 12 chunks of 80 + 43: 12 * 5 + 3 batches.
  CHECK(batcher.batches_per_epoch() == 63);
  for (std::uint64_t epoch : {0u, 1u, 7u}) {
    const auto plan = batcher.plan(epoch);
    REQUIRE(plan.size() == batcher.batches_per_epoch());
    std::vector<std::size_t> seen;
    for (const auto& rows : plan) {
      CHECK(!rows.empty());
      CHECK(rows.size() <= 16);
      seen.insert(seen.end(), rows.begin(), rows.end());
    }
    std::sort(seen.begin(), seen.end());
    std::vector<std::size_t> all(1003);
    std::iota(all.begin(), all.end(), std::size_t{0});
    CHECK(seen == all);
  }
}

TEST_CASE("epochs are deterministic, differ from each other, and resume at any batch") {
  const auto examples = random_examples(500, 2);
  const Batcher a(examples, {.batch_size = 8, .bucket_batches = 10, .seed = 3});
  const Batcher b(examples, {.batch_size = 8, .bucket_batches = 10, .seed = 3});
  const Batcher other_seed(examples, {.batch_size = 8, .bucket_batches = 10, .seed = 4});
  CHECK(a.plan(0) == b.plan(0));
  CHECK(a.plan(5) == b.plan(5));
  CHECK(a.plan(0) != a.plan(1));
  CHECK(a.plan(0) != other_seed.plan(0));
  // seed 3 epoch 4 and seed 4 epoch 3 are different streams, not seed + epoch.
  CHECK(a.plan(4) != other_seed.plan(3));
  // batch(epoch, index) is the plan's batch, in any order of calls.
  const auto plan2 = a.plan(2);
  for (std::size_t i : {std::size_t{17}, std::size_t{0}, plan2.size() - 1}) {
    CHECK(b.batch(2, i).rows == plan2[i]);
    CHECK(b.batch(9, 0).rows == a.plan(9)[0]);
  }
  expect_error<IndexError>([&] { a.batch(0, a.batches_per_epoch()); }, {"an epoch has 63 batches"});
}

TEST_CASE("the first plan is fixed: the same on every platform") {
  // Fisher-Yates over std::mt19937_64 and std::seed_seq, both specified by the
  // standard; tools/fixtures/batcher_order.py computes the same order from the
  // standard's definitions, in Python. It must never change.
  std::vector<Example> examples;
  for (std::int64_t i = 0; i < 10; ++i) examples.push_back({{i + 4}, {}});
  const Batcher batcher(examples, {.batch_size = 3, .bucket_batches = 1, .seed = 0});
  const auto plan = batcher.plan(0);
  std::vector<std::size_t> flat;
  for (const auto& rows : plan) flat.insert(flat.end(), rows.begin(), rows.end());
  CHECK(plan.size() == 4);
  std::string text;
  for (std::size_t row : flat) text += std::to_string(row) + ", ";
  MESSAGE("plan(0): ", text);
  CHECK(flat == std::vector<std::size_t>{9, 7, 0, 8, 2, 3, 4, 5, 1, 6});
}

TEST_CASE("bucketing keeps padding small") {
  const auto examples = random_examples(4000, 3);
  const Batcher bucketed(examples, {.batch_size = 32, .bucket_batches = 50, .seed = 1});
  const Batcher unbucketed(examples, {.batch_size = 32, .bucket_batches = 1, .seed = 1});
  const double with = mean_padding(bucketed, bucketed.plan(0));
  const double without = mean_padding(unbucketed, unbucketed.plan(0));
  MESSAGE("padding: bucketed ", with, ", unbucketed ", without);
  CHECK(with < 0.25);
  CHECK(with < without / 2);
  // The in-order batches (for evaluation) are not sorted and pad more.
  CHECK(mean_padding(bucketed, bucketed.in_order()) > with);
}

TEST_CASE("a batch size near 2^64 makes one batch of the whole dataset") {
  // batch_size * bucket_batches overflows for all of these (2^63 * 50 wraps to 0).
  for (std::size_t size : {SIZE_MAX, std::size_t{1} << 63, SIZE_MAX / 50 + 1, SIZE_MAX / 2}) {
    CAPTURE(size);
    const Batcher batcher(random_examples(7, 1), {.batch_size = size, .seed = 3});
    CHECK(batcher.batches_per_epoch() == 1);
    const auto plan = batcher.plan(0);
    REQUIRE(plan.size() == 1);
    CHECK(plan[0].size() == 7);
    CHECK(batcher.batch(0, 0).size() == 7);
    CHECK(batcher.in_order() == std::vector<std::vector<std::size_t>>{{0, 1, 2, 3, 4, 5, 6}});
  }
}

TEST_CASE("Batcher refuses an unusable dataset or options") {
  expect_error<DataError>([] { Batcher({}, {}); }, {"dataset is empty"});
  expect_error<DataError>([] { Batcher({{{4}, {5}}}, {.batch_size = 0}); }, {"batch_size is 0"});
  expect_error<DataError>([] { Batcher({{{4}, {5}}}, {.bucket_batches = 0}); }, {"bucket_batches is 0"});
  expect_error<DataError>([] { Batcher({{{4}, {5}}, {{}, {5}}}, {}); }, {"example 1 has an empty source"});
}
