// The G2P default model's training step on one process, on DataParallel's two threads, and
// on ranks of an MPI job (docs/distributed.md):
//
//   bench_distributed --mode single                       1 process, 1 thread
//   bench_distributed --mode threads                      1 process, DataParallel over 2 threads
//   mpirun -np 2 bench_distributed --mode ranks           2 ranks, 1 thread each
//   mpirun -np 2 bench_distributed --mode ranks --no-overlap   buckets sent only at synchronize()
//   mpirun -np 2 bench_distributed --mode allreduce       allreduce times from 4 B to 16 MB (the cost model's)
//
// Real CMUdict batches of 128 words in the training order, Adam, float32. Prints the median
// step time, target tokens per second, and for ranks the gradient bytes each rank reduces per
// step, the time inside MPI during the backward and the time waiting for it afterwards.

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "tapegrad/dist/distributed_data_parallel.hpp"
#include "tapegrad/kernels/blas.hpp"
#include "tapegrad/models/data_parallel.hpp"
#include "tapegrad/optim/adam.hpp"
#include "tapegrad/train/model_config.hpp"
#include "tapegrad/train/task.hpp"

using namespace tg;
using clock_type = std::chrono::steady_clock;

namespace {

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

double target_tokens(const Batcher& batcher, const std::vector<std::size_t>& rows) {
  double n = 0;
  for (std::size_t row : rows) n += double(batcher.examples()[row].target.size() + 1);
  return n;
}

std::vector<std::size_t> part_of(const std::vector<std::size_t>& rows, std::size_t part, std::size_t parts) {
  const RowRange r = shard_rows(rows.size(), part, parts);
  return {rows.begin() + std::ptrdiff_t(r.begin), rows.begin() + std::ptrdiff_t(r.end)};
}

}  // namespace

int main(int argc, char** argv) {
  std::string mode = "single";
  std::size_t steps = 60, warmup = 10, bucket_kb = 25 * 1024, first_kb = 1024;
  bool overlap = true;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--mode" && i + 1 < argc) {
      mode = argv[++i];
    } else if (a == "--steps" && i + 1 < argc) {
      steps = std::stoul(argv[++i]);
    } else if (a == "--warmup" && i + 1 < argc) {
      warmup = std::stoul(argv[++i]);
    } else if (a == "--bucket-kb" && i + 1 < argc) {
      bucket_kb = std::stoul(argv[++i]);
    } else if (a == "--first-bucket-kb" && i + 1 < argc) {
      first_kb = std::stoul(argv[++i]);
    } else if (a == "--no-overlap") {
      overlap = false;
    } else {
      std::fprintf(stderr, "bench_distributed: unknown option %s\n", argv[i]);
      return 2;
    }
  }
  if (mode != "single" && mode != "threads" && mode != "ranks" && mode != "allreduce") {
    std::fprintf(stderr, "bench_distributed: --mode single, threads, ranks or allreduce\n");
    return 2;
  }
  if (mode == "allreduce") {
    ProcessGroup& world = ProcessGroup::world();
    for (std::size_t bytes = 4; bytes <= (std::size_t{16} << 20); bytes *= 4) {
      Tensor t = Tensor::ones({bytes / 4}, DType::f32);
      std::vector<double> seconds;
      for (std::size_t i = 0; i < warmup + steps; ++i) {
        world.barrier();
        const auto start = clock_type::now();
        world.allreduce_sum(t);
        if (i >= warmup) seconds.push_back(std::chrono::duration<double>(clock_type::now() - start).count());
      }
      if (world.rank() == 0) {
        std::printf("allreduce of %9zu bytes over %d ranks: %9.1f us (median of %zu)\n", bytes, world.size(),
                    1e6 * median(seconds), steps);
      }
    }
    return 0;
  }
  set_blas_threads(1);
  ProcessGroup* group = mode == "ranks" ? &ProcessGroup::world() : nullptr;
  const int rank = group != nullptr ? group->rank() : 0, ranks = group != nullptr ? group->size() : 1;

  const TaskData data = load_task(TaskOptions{});
  Batcher batcher(training_examples(data.train, data.source_vocab, data.target_vocab, false),
                  BatcherOptions{.batch_size = 128, .seed = 1});
  Generator init(1);
  auto model = make_model(make_options(ModelChoice{}, data.source_vocab.size(), data.target_vocab.size()), init);
  Adam adam(model->parameters(), {.lr = 4e-3});
  std::unique_ptr<DataParallel<SequenceModel>> threads;
  if (mode == "threads") threads = std::make_unique<DataParallel<SequenceModel>>(*model, 2);
  std::unique_ptr<DistributedDataParallel> ddp;
  if (group != nullptr) {
    ddp = std::make_unique<DistributedDataParallel>(*model, *group,
                                                    DistributedOptions{.bucket_bytes = bucket_kb << 10,
                                                                       .first_bucket_bytes = first_kb << 10,
                                                                       .average = false,
                                                                       .overlap = overlap});
  }

  std::vector<double> step_seconds, tokens_per_second, in_mpi, waiting, exposed;
  std::size_t bytes = 0, buckets = 0;
  const std::vector<std::vector<std::size_t>> plan = batcher.plan(0);
  for (std::size_t step = 0; step < warmup + steps; ++step) {
    const std::vector<std::size_t>& rows = plan[step % plan.size()];
    const double total = target_tokens(batcher, rows);
    if (group != nullptr) group->barrier();  // every rank starts the step together
    const auto start = clock_type::now();
    model->zero_grad();
    if (mode == "single") {
      Batch b = batcher.batch_of(rows);
      model->loss(b.source, b.lengths, b.target_in, b.target_out).backward();
      current_tape().reset();
    } else if (mode == "threads") {
      std::vector<Batch> parts{batcher.batch_of(part_of(rows, 0, 2)), batcher.batch_of(part_of(rows, 1, 2))};
      threads->run([&](std::size_t i, const SequenceModel& m) {
        Var loss = m.loss(parts[i].source, parts[i].lengths, parts[i].target_in, parts[i].target_out);
        loss.backward(Tensor::scalar(target_tokens(batcher, part_of(rows, i, 2)) / total, loss.dtype()));
        current_tape().reset();
      });
    } else {
      const std::vector<std::size_t> mine = part_of(rows, std::size_t(rank), std::size_t(ranks));
      Batch b = batcher.batch_of(mine);
      Var loss = model->loss(b.source, b.lengths, b.target_in, b.target_out);
      ddp->backward(loss, Tensor::scalar(target_tokens(batcher, mine) / total, loss.dtype()));
      current_tape().reset();
      double backward_end = std::chrono::duration<double>(clock_type::now().time_since_epoch()).count();
      ddp->synchronize();
      const double synchronized = std::chrono::duration<double>(clock_type::now().time_since_epoch()).count();
      // The ranks share the machine's monotonic clock: what synchronize() took after the last
      // rank's backward ended is communication that no backward hid (load imbalance aside).
      MPI_Allreduce(MPI_IN_PLACE, &backward_end, 1, MPI_DOUBLE, MPI_MAX, group->comm());
      if (step >= warmup) exposed.push_back(std::max(0.0, synchronized - backward_end));
    }
    adam.step();
    const double seconds = std::chrono::duration<double>(clock_type::now() - start).count();
    if (step < warmup) continue;
    step_seconds.push_back(seconds);
    tokens_per_second.push_back(total / seconds);
    if (ddp) {
      in_mpi.push_back(ddp->last_step().mpi_seconds_during_backward);
      waiting.push_back(ddp->last_step().wait_seconds);
      bytes = ddp->last_step().bytes;
      buckets = ddp->last_step().buckets;
    }
  }
  if (rank != 0) return 0;
  std::string line = fmt::format("{:<8} {} rank(s): {:.1f} ms per step, {:.0f} target tokens/s", mode, ranks,
                                 1e3 * median(step_seconds), median(tokens_per_second));
  if (ddp) {
    line += fmt::format(
        ", {} bucket(s) of {:.2f} MB in all per step, {:.2f} ms in MPI during the backward, "
        "{:.2f} ms waiting after it, {:.2f} ms after the last rank's backward{}",
        buckets, double(bytes) / 1e6, 1e3 * median(in_mpi), 1e3 * median(waiting), 1e3 * median(exposed),
        overlap ? "" : " (no overlap)");
  }
  std::printf("%s (median of %zu steps, %zu parameters)\n", line.c_str(), steps, model->parameter_count());
  return 0;
}
