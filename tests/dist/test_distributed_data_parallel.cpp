#include <doctest/doctest.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <xtensor/xview.hpp>

#include "ops/check.hpp"
#include "tapegrad/autodiff/tape.hpp"
#include "tapegrad/base/error.hpp"
#include "tapegrad/base/generator.hpp"
#include "tapegrad/dist/distributed_data_parallel.hpp"
#include "tapegrad/models/data_parallel.hpp"
#include "tapegrad/models/linear.hpp"
#include "tapegrad/ops/reduce.hpp"
#include "tapegrad/optim/adam.hpp"
#include "tapegrad/train/model_config.hpp"

using namespace tg;

namespace {

// A global batch of random "words": sources of 1-8 letters, targets of 1-8 phonemes, padded
// with 0 (1 BOS, 2 EOS, real tokens from 3). Every rank draws the same from the same seed.
struct GlobalBatch {
  Indices source, target_in, target_out;
  std::vector<std::int64_t> lengths;
  std::size_t rows() const { return lengths.size(); }
};

GlobalBatch random_batch(Generator& gen, std::size_t rows, std::size_t source_vocab, std::size_t target_vocab) {
  constexpr std::size_t kSource = 8, kTarget = 9;
  auto draw = [&](std::size_t n) { return static_cast<std::size_t>(gen.uniform() * double(n)); };
  GlobalBatch b{Indices::from_shape({rows, kSource}),
                Indices::from_shape({rows, kTarget}),
                Indices::from_shape({rows, kTarget}),
                {}};
  b.source.fill(0);
  b.target_in.fill(0);
  b.target_out.fill(0);
  for (std::size_t r = 0; r < rows; ++r) {
    const std::size_t s = 1 + draw(kSource), t = 1 + draw(kTarget - 1);
    for (std::size_t i = 0; i < s; ++i) b.source(r, i) = std::int64_t(3 + draw(source_vocab - 3));
    b.lengths.push_back(std::int64_t(s));
    b.target_in(r, 0) = 1;
    for (std::size_t i = 0; i < t; ++i) {
      const auto token = std::int64_t(3 + draw(target_vocab - 3));
      b.target_out(r, i) = token;
      b.target_in(r, i + 1) = token;
    }
    b.target_out(r, t) = 2;
  }
  return b;
}

Indices rows_of(const Indices& x, RowRange r) { return Indices(xt::view(x, xt::range(r.begin, r.end), xt::all())); }

double target_tokens(const Indices& target_out) {
  double n = 0;
  for (std::int64_t id : target_out) n += id != 0;
  return n;
}

// The G2P default model (train/model_config.hpp's ModelChoice: a 2-layer bidirectional LSTM
// encoder, general attention, 1.28M parameters) in `dtype`, without dropout.
std::unique_ptr<SequenceModel> g2p_model(DType dtype) {
  ModelOptions options = make_options(ModelChoice{}, 30, 42);
  std::get<Seq2SeqOptions>(options).dtype = dtype;
  Generator gen(2024);
  return make_model(options, gen);
}

std::vector<double> flat_parameters(const Module& m) {
  std::vector<double> all;
  for (const Var& p : m.parameters()) {
    const std::vector<double> v = p.value().to_vector();
    all.insert(all.end(), v.begin(), v.end());
  }
  return all;
}

std::vector<double> flat_gradients(const Module& m) {
  std::vector<double> all;
  for (const Var& p : m.parameters()) {
    const std::vector<double> v = p.grad().to_vector();
    all.insert(all.end(), v.begin(), v.end());
  }
  return all;
}

// This rank's share of `b` through `ddp`, each rank's loss weighted by its share of the
// global batch's tokens; returns the global batch's mean loss, summed over the ranks.
double distributed_backward(DistributedDataParallel& ddp, const SequenceModel& model, const GlobalBatch& b) {
  ProcessGroup& group = ddp.group();
  const RowRange r = shard_rows(b.rows(), std::size_t(group.rank()), std::size_t(group.size()));
  const Indices out = rows_of(b.target_out, r);
  const std::vector<std::int64_t> lengths(b.lengths.begin() + std::ptrdiff_t(r.begin),
                                          b.lengths.begin() + std::ptrdiff_t(r.end));
  const double share = target_tokens(out) / target_tokens(b.target_out);
  Var loss = model.loss(rows_of(b.source, r), lengths, rows_of(b.target_in, r), out);
  std::vector<double> global{loss.item() * share};
  ddp.backward(loss, Tensor::scalar(share, loss.dtype()));
  current_tape().reset();
  group.allreduce_sum(std::span<double>(global));
  return global[0];
}

double single_backward(const SequenceModel& model, const GlobalBatch& b) {
  Var loss = model.loss(b.source, b.lengths, b.target_in, b.target_out);
  loss.backward();
  current_tape().reset();
  return loss.item();
}

}  // namespace

TEST_CASE("N ranks take the same 50 Adam steps of the G2P model as one process on the whole batches") {
  ProcessGroup& world = ProcessGroup::world();
  for (DType dtype : {DType::f64, DType::f32}) {
    CAPTURE(dtype_name(dtype));
    const double tolerance = dtype == DType::f64 ? 1e-12 : 1e-5;
    auto single = g2p_model(dtype), model = g2p_model(dtype);
    DistributedOptions options;
    options.average = false;  // each rank's loss carries its share of the tokens
    options.first_bucket_bytes = options.bucket_bytes = 512 * 1024;
    DistributedDataParallel ddp(*model, world, options);
    CHECK(ddp.bucket_layout().size() > 1);
    Adam single_adam(single->parameters(), {.lr = 3e-3}), adam(model->parameters(), {.lr = 3e-3});
    Generator data(7);
    int worst_step = -1;
    double worst = 0;
    for (int step = 0; step < 50; ++step) {
      const GlobalBatch b = random_batch(data, 7, 30, 42);  // 7 rows: unequal shares on 2 and 3 ranks
      single->zero_grad();
      model->zero_grad();
      const double expected = single_backward(*single, b);
      const double got = distributed_backward(ddp, *model, b);
      ddp.synchronize();
      single_adam.step();
      adam.step();
      const double gap = std::max(test::relative_gap(flat_parameters(*model), flat_parameters(*single)),
                                  std::abs(got - expected) / std::abs(expected));
      if (gap > worst) {
        worst = gap;
        worst_step = step;
      }
    }
    const std::string report = fmt::format("{} ranks, {}: worst relative gap {:.2e} (step {})", world.size(),
                                           dtype_name(dtype), worst, worst_step);
    if (world.rank() == 0) MESSAGE(report);
    CHECK(worst < tolerance);
  }
}

TEST_CASE("buckets are sent during the backward, and every bucket layout gives the same step") {
  ProcessGroup& world = ProcessGroup::world();
  Generator data(11);
  const GlobalBatch b = random_batch(data, 6, 30, 42);
  std::vector<std::vector<double>> results;
  struct Layout {
    std::size_t first_bytes, bytes;
    bool overlap;
  };
  for (Layout layout : {Layout{1, 1, true}, Layout{256 * 1024, 256 * 1024, true}, Layout{25u << 20, 25u << 20, true},
                        Layout{1u << 20, 25u << 20, true}, Layout{256 * 1024, 256 * 1024, false}}) {
    CAPTURE(layout.first_bytes);
    CAPTURE(layout.bytes);
    CAPTURE(layout.overlap);
    auto model = g2p_model(DType::f64);
    DistributedOptions options;
    options.first_bucket_bytes = layout.first_bytes;
    options.bucket_bytes = layout.bytes;
    options.overlap = layout.overlap;
    DistributedDataParallel ddp(*model, world, options);
    const std::size_t buckets = ddp.bucket_layout().size();
    if (layout.bytes == 1) CHECK(buckets == model->parameters().size());
    if (layout.first_bytes == layout.bytes && layout.bytes == 25u << 20) CHECK(buckets == 1);  // 10 MB in float64
    if (layout.first_bytes < layout.bytes && layout.bytes == 25u << 20) CHECK(buckets == 2);
    distributed_backward(ddp, *model, b);
    const DistributedStepStats& before_sync = ddp.last_step();
    if (layout.overlap && buckets > 1) {
      // The first bucket left while some parameters' gradients were still to come.
      CHECK(before_sync.sent_during_backward >= 1);
      CHECK(before_sync.complete_when_first_sent < model->parameters().size());
    }
    if (!layout.overlap) CHECK(before_sync.sent_during_backward == 0);
    ddp.synchronize();
    CHECK(ddp.last_step().buckets == buckets);
    results.push_back(flat_gradients(*model));
  }
  for (std::size_t i = 1; i < results.size(); ++i) CHECK(test::relative_gap(results[i], results[0]) < 1e-13);
}

TEST_CASE("no_sync accumulates locally; the next synchronised step sends the sum") {
  ProcessGroup& world = ProcessGroup::world();
  Generator data(12);
  const GlobalBatch first = random_batch(data, 6, 30, 42), second = random_batch(data, 6, 30, 42);
  auto single = g2p_model(DType::f64), model = g2p_model(DType::f64);
  DistributedOptions options;
  options.average = false;
  DistributedDataParallel ddp(*model, world, options);
  single_backward(*single, first);
  single_backward(*single, second);
  {
    auto no_sync = ddp.no_sync();
    distributed_backward(ddp, *model, first);
    ddp.synchronize();  // does nothing under no_sync
    CHECK(ddp.last_step().bytes == 0);
  }
  distributed_backward(ddp, *model, second);
  ddp.synchronize();
  CHECK(test::relative_gap(flat_gradients(*model), flat_gradients(*single)) < 1e-12);
}

namespace {
// Two linear layers, of which the loss may use one only.
class TwoBranches final : public Module {
 public:
  explicit TwoBranches(Generator& gen) : used({3, 2, true, DType::f64}, gen), spare({3, 2, true, DType::f64}, gen) {
    register_module("used", used);
    register_module("spare", spare);
  }
  Linear used, spare;
};
}  // namespace

TEST_CASE("a parameter the backward does not reach is named, or skipped with find_unused_parameters") {
  ProcessGroup& world = ProcessGroup::world();
  Generator gen(5);
  TwoBranches model(gen);
  Var x(Tensor::from_vector({1, 2, 3, -1, 0.5, 2}, {2, 3}, DType::f64));
  {
    DistributedDataParallel ddp(model, world);
    ddp.backward(sum(model.used.forward(x)));
    CHECK_THROWS_WITH_AS(ddp.synchronize(), doctest::Contains("did not reach 'spare.weight', 'spare.bias'"), Error);
    current_tape().reset();
  }
  model.zero_grad();
  DistributedOptions options;
  options.find_unused_parameters = true;
  DistributedDataParallel ddp(model, world, options);
  ddp.backward(sum(model.used.forward(x)));
  current_tape().reset();
  ddp.synchronize();
  CHECK(model.used.weight.grad().defined());
  CHECK_FALSE(model.spare.weight.grad().defined());  // no rank used it: the optimizer skips it
  // Used on rank 0 only: every rank gets rank 0's gradient over the ranks.
  model.zero_grad();
  ddp.backward(sum(world.rank() == 0 ? model.spare.forward(x) : model.used.forward(x)));
  current_tape().reset();
  ddp.synchronize();
  REQUIRE(model.spare.weight.grad().defined());
  CHECK(model.spare.bias.grad().to_vector() == std::vector<double>(2, 2.0 / world.size()));
}

TEST_CASE("ranks with different models refuse to start and say what differs") {
  ProcessGroup& world = ProcessGroup::world();
  if (world.size() == 1) return;  // one rank has nothing to differ from
  Generator gen(5);
  Linear model({3, std::size_t(world.rank() == 1 ? 4 : 2), true, DType::f64}, gen);
  CHECK_THROWS_WITH_AS(DistributedDataParallel(model, world),
                       doctest::Contains("the model of rank 1 differs from rank 0's (every rank must build the same "
                                         "model): rank 0 has 'weight [2, 3] float64' against 'weight [4, 3] float64'"),
                       Error);
}

TEST_CASE("the constructor gives every rank rank 0's parameters") {
  ProcessGroup& world = ProcessGroup::world();
  Generator gen(100 + std::uint64_t(world.rank()));  // a different start on every rank
  Linear model({3, 2, true, DType::f64}, gen);
  DistributedDataParallel ddp(model, world);
  Tensor w = model.weight.value();
  world.broadcast(w, 0);
  CHECK(w.to_vector() == model.weight.value().to_vector());
}

TEST_CASE("with DataParallel's threads inside each rank, synchronize() after the run sends every bucket") {
  ProcessGroup& world = ProcessGroup::world();
  Generator data(13);
  const GlobalBatch b = random_batch(data, 8, 30, 42);
  auto single = g2p_model(DType::f64), model = g2p_model(DType::f64);
  DistributedOptions options;
  options.average = false;
  DistributedDataParallel ddp(*model, world, options);
  DataParallel<SequenceModel> threads(*model, 2);
  single_backward(*single, b);
  const RowRange mine = shard_rows(b.rows(), std::size_t(world.rank()), std::size_t(world.size()));
  const double total = target_tokens(b.target_out);
  threads.run([&](std::size_t shard, const SequenceModel& m) {
    const RowRange part = shard_rows(mine.size(), shard, threads.shards());
    const RowRange r{mine.begin + part.begin, mine.begin + part.end};
    const Indices out = rows_of(b.target_out, r);
    const std::vector<std::int64_t> lengths(b.lengths.begin() + std::ptrdiff_t(r.begin),
                                            b.lengths.begin() + std::ptrdiff_t(r.end));
    Var loss = m.loss(rows_of(b.source, r), lengths, rows_of(b.target_in, r), out);
    loss.backward(Tensor::scalar(target_tokens(out) / total, loss.dtype()));
    current_tape().reset();
  });
  ddp.synchronize();
  CHECK(ddp.last_step().sent_during_backward == 0);
  CHECK(test::relative_gap(flat_gradients(*model), flat_gradients(*single)) < 1e-12);
}
