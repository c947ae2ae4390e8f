#include <doctest/doctest.h>

#include <stdexcept>
#include <string>
#include <vector>

#include <xtensor/xview.hpp>

#include "ops/check.hpp"
#include "tapegrad/autodiff/tape.hpp"
#include "tapegrad/kernels/blas.hpp"
#include "tapegrad/models/data_parallel.hpp"
#include "tapegrad/models/seq2seq.hpp"
#include "tapegrad/models/transformer_seq2seq.hpp"
#include "tapegrad/ops/weight_grads.hpp"
#include "tapegrad/optim/adam.hpp"

using namespace tg;

namespace {

// Five sentences with source and target padding; real tokens are >= 3 (0 pad, 1 BOS, 2 EOS).
struct Batch {
  Indices source{{3, 5, 4, 6}, {6, 3, 0, 0}, {4, 4, 5, 0}, {5, 0, 0, 0}, {3, 6, 6, 5}};
  std::vector<std::int64_t> lengths{4, 2, 3, 1, 4};
  Indices target_in{{1, 4, 3, 0}, {1, 5, 5, 3}, {1, 3, 0, 0}, {1, 4, 4, 5}, {1, 0, 0, 0}};
  Indices target_out{{4, 3, 2, 0}, {5, 5, 3, 2}, {3, 2, 0, 0}, {4, 4, 5, 2}, {2, 0, 0, 0}};
};

Seq2SeqOptions small_options() {
  Seq2SeqOptions o;
  o.source_vocab_size = 7;
  o.target_vocab_size = 6;
  o.embedding_size = 3;
  o.hidden_size = 4;
  return o;
}

Indices rows_of(const Indices& x, RowRange r) { return Indices(xt::view(x, xt::range(r.begin, r.end), xt::all())); }

std::size_t target_tokens(const Indices& target_out) {
  std::size_t n = 0;
  for (std::int64_t id : target_out) n += id != 0;
  return n;
}

// The model's loss on the whole batch, split over `parallel`'s shards: each shard's mean
// weighted by its share of the target tokens.
template <class M>
void parallel_backward(DataParallel<M>& parallel, const Batch& b) {
  const double total = double(target_tokens(b.target_out));
  parallel.run([&](std::size_t shard, const M& m) {
    const RowRange r = shard_rows(b.lengths.size(), shard, parallel.shards());
    const Indices out = rows_of(b.target_out, r);
    const std::vector<std::int64_t> lengths(b.lengths.begin() + std::ptrdiff_t(r.begin),
                                            b.lengths.begin() + std::ptrdiff_t(r.end));
    Var loss = m.loss(rows_of(b.source, r), lengths, rows_of(b.target_in, r), out);
    loss.backward(Tensor::scalar(double(target_tokens(out)) / total, loss.dtype()));
    current_tape().reset();
  });
}

std::vector<std::vector<double>> gradients(const Module& m) {
  std::vector<std::vector<double>> out;
  for (const Var& p : m.parameters()) out.push_back(p.grad().defined() ? p.grad().to_vector() : std::vector<double>{});
  return out;
}

void check_same_gradients(const Module& parallel, const Module& single, double tolerance) {
  const auto a = gradients(parallel), b = gradients(single);
  const auto names = single.named_parameters();
  REQUIRE(a.size() == b.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    INFO(names[i].name);
    REQUIRE(a[i].size() == b[i].size());
    REQUIRE(!b[i].empty());
    CHECK(test::relative_gap(a[i], b[i]) < tolerance);
  }
}

// Two float64 copies of one seeded model: one for a single backward, one for DataParallel.
struct Twins {
  std::unique_ptr<Seq2Seq> single, model;
};
Twins twins(std::uint64_t seed) {
  Generator gen(seed);
  Seq2Seq base(small_options(), gen);
  return {copy_as(base, DType::f64), copy_as(base, DType::f64)};
}

}  // namespace

TEST_CASE("shard_rows splits a batch into near-equal contiguous parts") {
  CHECK(shard_rows(5, 0, 2).begin == 0);
  CHECK(shard_rows(5, 0, 2).end == 3);
  CHECK(shard_rows(5, 1, 2).begin == 3);
  CHECK(shard_rows(5, 1, 2).end == 5);
  CHECK(shard_rows(7, 2, 3).begin == 5);
  CHECK(shard_rows(7, 2, 3).end == 7);
  CHECK(shard_rows(1, 1, 2).size() == 0);
  std::size_t covered = 0;
  for (std::size_t i = 0; i < 4; ++i) covered += shard_rows(10, i, 4).size();
  CHECK(covered == 10);
  CHECK_THROWS_WITH_AS(shard_rows(4, 2, 2), "shard_rows: shard 2 of 2 does not exist", Error);
  CHECK_THROWS_AS(DataParallel<Seq2Seq>(*std::make_unique<Seq2Seq>(small_options()), 0), Error);
}

TEST_CASE("DataParallel: the shards' gradients add up to the whole batch's") {
  const Batch b;
  for (std::size_t shards : {1, 2, 3}) {
    for (DType dtype : {DType::f64, DType::f32}) {
      CAPTURE(shards);
      CAPTURE(dtype_name(dtype));
      Generator gen(7);
      Seq2Seq base(small_options(), gen);
      auto single = copy_as(base, dtype);
      auto model = copy_as(base, dtype);
      Var loss = single->loss(b.source, b.lengths, b.target_in, b.target_out);
      loss.backward();
      current_tape().reset();

      DataParallel<Seq2Seq> parallel(*model, shards);
      CHECK(parallel.shards() == shards);
      parallel_backward(parallel, b);
      check_same_gradients(*model, *single, dtype == DType::f64 ? 1e-12 : 1e-5);
    }
  }
}

TEST_CASE("DataParallel<SequenceModel>: a Transformer's shards add up to the whole batch's gradients") {
  const Batch b;
  TransformerSeq2SeqOptions o;
  o.source_vocab_size = 7;
  o.target_vocab_size = 6;
  o.transformer = {
      .d_model = 4, .nhead = 2, .num_encoder_layers = 1, .num_decoder_layers = 2, .dim_feedforward = 6, .dropout = 0.0};
  Generator gen(5);
  const TransformerSeq2Seq base(o, gen);
  std::unique_ptr<SequenceModel> single = copy_as(static_cast<const SequenceModel&>(base), DType::f64);
  std::unique_ptr<SequenceModel> model = copy_as(static_cast<const SequenceModel&>(base), DType::f64);
  Var loss = single->loss(b.source, b.lengths, b.target_in, b.target_out);
  loss.backward();
  current_tape().reset();
  DataParallel<SequenceModel> parallel(*model, 2);
  parallel_backward(parallel, b);
  check_same_gradients(*model, *single, 1e-12);
}

TEST_CASE("DataParallel: replicas share the model's parameters; gathered weight gradients reach the model too") {
  const Batch b;
  auto [single, model] = twins(9);
  // Every weight's gradient gathered to the end of the pass (ops/weight_grads.hpp), on each thread.
  const WeightGradBatching before = weight_grad_batching();
  set_weight_grad_batching(WeightGradBatching::always);
  single->loss(b.source, b.lengths, b.target_in, b.target_out).backward();
  current_tape().reset();
  DataParallel<Seq2Seq> parallel(*model, 2);
  parallel_backward(parallel, b);
  set_weight_grad_batching(before);
  check_same_gradients(*model, *single, 1e-12);
}

TEST_CASE("DataParallel: replicas take the model's new values at every run") {
  const Batch b;
  auto [single, model] = twins(3);
  Adam single_adam(single->parameters(), {.lr = 0.05});
  Adam model_adam(model->parameters(), {.lr = 0.05});
  DataParallel<Seq2Seq> parallel(*model, 2);
  for (int step = 0; step < 3; ++step) {
    CAPTURE(step);
    single_adam.zero_grad();
    single->loss(b.source, b.lengths, b.target_in, b.target_out).backward();
    current_tape().reset();
    model_adam.zero_grad();
    parallel_backward(parallel, b);
    check_same_gradients(*model, *single, 1e-10);
    single_adam.step();
    model_adam.step();
  }
}

TEST_CASE("DataParallel: a shard's error reaches the caller, and the next run is clean") {
  const Batch b;
  auto [single, model] = twins(5);
  DataParallel<Seq2Seq> parallel(*model, 3);
  for (std::size_t failing : {0, 1, 2}) {
    CAPTURE(failing);
    model->zero_grad();
    auto run = [&] {
      parallel.run([&](std::size_t shard, const Seq2Seq& m) {
        if (shard == failing) throw std::runtime_error("shard " + std::to_string(shard) + " failed");
        // The other shards run whole: their replicas' gradients must not reach the model.
        m.loss(b.source, b.lengths, b.target_in, b.target_out).backward();
        current_tape().reset();
      });
    };
    CHECK_THROWS_WITH(run(), ("shard " + std::to_string(failing) + " failed").c_str());
    // Only shard 0's own backward, when it ran, left gradients on the model.
    for (const Var& p : model->parameters()) CHECK(p.grad().defined() == (failing != 0));
  }
  // Two shards failing: the lowest one's error.
  CHECK_THROWS_WITH(parallel.run([](std::size_t shard, const Seq2Seq&) {
    if (shard > 0) throw std::runtime_error("shard " + std::to_string(shard) + " failed");
  }),
                    "shard 1 failed");

  single->loss(b.source, b.lengths, b.target_in, b.target_out).backward();
  current_tape().reset();
  model->zero_grad();
  parallel_backward(parallel, b);
  check_same_gradients(*model, *single, 1e-12);
}

TEST_CASE("DataParallel: run from inside a run is refused; OpenBLAS's threads come back") {
  Seq2Seq model(small_options());
  DataParallel<Seq2Seq> parallel(model, 2);
  const int before = blas_threads();
  set_blas_threads(2);
  std::vector<int> seen(2, 0);
  parallel.run([&](std::size_t shard, const Seq2Seq&) { seen[shard] = blas_threads(); });
  CHECK(seen == std::vector<int>{1, 1});
  CHECK(blas_threads() == 2);
  set_blas_threads(before);
  CHECK_THROWS_WITH(
      parallel.run([&](std::size_t, const Seq2Seq&) { parallel.run([](std::size_t, const Seq2Seq&) {}); }),
      "DataParallel::run: called from inside a run's work");
}

TEST_CASE("DataParallel: dropout draws are reproducible and differ between shards") {
  const Batch b;
  Seq2SeqOptions o = small_options();
  o.dropout = 0.5;
  auto run_twice = [&] {
    Generator gen(11);
    Seq2Seq model(o, gen);
    DataParallel<Seq2Seq> parallel(model, 2);
    manual_seed(42);
    std::vector<double> losses(2);
    parallel.run([&](std::size_t shard, const Seq2Seq& m) {
      // Every shard sees the same rows: only the dropout masks tell them apart.
      losses[shard] = m.loss(b.source, b.lengths, b.target_in, b.target_out).item();
      current_tape().reset();
    });
    return losses;
  };
  const std::vector<double> first = run_twice(), second = run_twice();
  CHECK(first == second);
  CHECK(first[0] != first[1]);
}
