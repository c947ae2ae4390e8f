#pragma once
/// Data parallelism over threads: a batch split into shards, each shard's forward and
/// backward on its own thread, with that thread's own tape and its own replica of the
/// model. The replicas share the model's parameters (Module::share_parameters: no copies
/// of the values) but not its gradients: each worker's backward passes put theirs in
/// slots of their own (LeafGradients), which are then added into the model's gradients
/// in shard order, so the model holds what one backward over the whole batch would have
/// left, the same from run to run.
///
///   tg::DataParallel<tg::Seq2Seq> parallel(model, 2);  // or DataParallel<tg::SequenceModel>
///   parallel.run([&](std::size_t shard, const tg::Seq2Seq& m) {
///     const tg::RowRange rows = tg::shard_rows(batch_size, shard, parallel.shards());
///     tg::Var loss = m.loss(...the rows [rows.begin, rows.end) of the batch...);
///     // The shard's mean, weighted by its share of the batch's tokens:
///     loss.backward(tg::Tensor::scalar(double(shard_tokens) / batch_tokens));
///   });
///   optimizer.step();  // on model's parameters, as without parallelism
///
/// Why: on 2 cores, OpenBLAS's second thread only helps products of several million
/// multiply-adds. A step of 32 sentences is mostly small products and elementwise work;
/// two half-batches run side by side on the two cores with nothing shared until their
/// gradients are added (docs/performance.md, "Data parallelism over threads").
///
/// Shard 0 runs on the calling thread with the model itself; shard i > 0 on a worker
/// thread of its own (kept for the object's life) with replica i. Before each run every
/// replica takes the model's training mode, and each worker the caller's float settings
/// (flush_denormals); each worker's default generator, which dropout draws from, is
/// reseeded from the caller's, so runs are reproducible and shards draw different masks.
/// OpenBLAS runs one thread per product during a run (each shard has a core), and its
/// previous setting is restored afterwards.

#include <cstddef>
#include <functional>
#include <memory>
#include <vector>

#include "tapegrad/autodiff/tape.hpp"
#include "tapegrad/autodiff/var.hpp"
#include "tapegrad/base/worker.hpp"
#include "tapegrad/models/module.hpp"

namespace tg {

/// Rows [begin, end) of a batch.
struct RowRange {
  std::size_t begin = 0;
  std::size_t end = 0;
  std::size_t size() const { return end - begin; }
};

/// Shard `shard` of `shards` near-equal contiguous parts of `batch` rows (the first
/// batch % shards parts have one row more). Throws Error when shard >= shards.
RowRange shard_rows(std::size_t batch, std::size_t shard, std::size_t shards);

namespace detail {

/// The part of DataParallel that does not depend on the model's type: the model's
/// parameters, and each worker with its gradient slots for them.
class ShardRunner {
 public:
  ShardRunner(std::vector<Var> model_params, std::size_t workers);
  ~ShardRunner();
  ShardRunner(const ShardRunner&) = delete;
  ShardRunner& operator=(const ShardRunner&) = delete;

  std::size_t shards() const { return workers_.size() + 1; }
  /// job(shard) for every shard at once; see DataParallel::run.
  void run(const std::function<void(std::size_t shard)>& job);

 private:
  void add_worker_grads();

  std::vector<Var> model_params_;
  std::vector<std::unique_ptr<LeafGradients>> worker_grads_;
  std::vector<std::unique_ptr<Worker>> workers_;
};

}  // namespace detail

/// See the header comment. M is a module that copy_as copies: one constructible from
/// m.options() (every model in models/ is), or a base with a copy_as of its own
/// (SequenceModel, whatever the model's architecture).
template <class M>
class DataParallel {
 public:
  /// Makes shards - 1 replicas of `model` (which must outlive this object), sharing its
  /// parameters, and their worker threads. Throws Error unless shards >= 1.
  DataParallel(M& model, std::size_t shards) : model_(model), runner_(make_runner(model, shards, replicas_)) {}

  std::size_t shards() const { return runner_->shards(); }

  /// Runs work(shard, m) for shard = 0 .. shards() - 1 at once, each on its own thread,
  /// where m is the model for shard 0 and a replica otherwise; work does its shard's
  /// forward and backward (from a seed that weights the shard's part of the loss). Returns
  /// when every shard has finished, with the replicas' gradients added into the model's
  /// (which, as with any backward, accumulate onto what the model held before).
  ///
  /// If shards throw, run rethrows the error of the lowest such shard once all have
  /// finished; the model then holds shard 0's gradients only, and the workers' are
  /// dropped. work must not call run itself. The tapes the shards recorded on (one per
  /// thread) keep their entries until reset, as a single-thread step's would; workers
  /// reset theirs at the start of each run.
  void run(const std::function<void(std::size_t shard, const M& model)>& work) {
    const bool training = model_.is_training();
    runner_->run([&](std::size_t shard) {
      if (shard == 0) {
        work(0, model_);
        return;
      }
      M& replica = *replicas_[shard - 1];
      if (replica.is_training() != training) replica.train(training);
      work(shard, replica);
    });
  }

 private:
  static std::unique_ptr<detail::ShardRunner> make_runner(M& model, std::size_t shards,
                                                          std::vector<std::unique_ptr<M>>& replicas) {
    if (shards == 0) throw Error("DataParallel: shards must be at least 1");
    for (std::size_t i = 1; i < shards; ++i) {
      replicas.push_back(copy_as(model, model.dtype()));
      replicas.back()->share_parameters(model);
    }
    return std::make_unique<detail::ShardRunner>(model.parameters(), shards - 1);
  }

  M& model_;
  std::vector<std::unique_ptr<M>> replicas_;
  std::unique_ptr<detail::ShardRunner> runner_;
};

}  // namespace tg
