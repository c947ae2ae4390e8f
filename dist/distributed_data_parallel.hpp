#pragma once
/// Data parallelism over processes (PyTorch's DistributedDataParallel, Li et al.,
/// VLDB 2020): every rank holds the whole model and runs the same steps on its own
/// share of each global batch; their gradients are summed by allreduce before the
/// optimizer's step, so every rank takes the same step.
///
///   tg::DistributedDataParallel ddp(model, tg::ProcessGroup::world());
///   for (...) {
///     model.zero_grad();
///     tg::Var loss = model.loss(...this rank's rows of the global batch...);
///     ddp.backward(loss * (rank_tokens / global_tokens));  // sends buckets as they fill
///     ddp.synchronize();                                    // waits; every rank's gradients now equal
///     optimizer.step();
///   }
///
/// - The constructor checks that every rank's model has the same parameters (names,
///   shapes, dtypes) and copies rank 0's values to the others.
/// - Gradients travel in buckets of about `bucket_bytes` (the first one smaller), filled in the reverse of
///   the parameters' registration order (roughly the order the backward produces
///   them). During backward(), the tape tells this object when each parameter's
///   gradient is complete (GradientReadyListener); a bucket whose gradients are all
///   complete is sent at once (MPI_Iallreduce) while the backward goes on. Buckets are
///   sent in index order on every rank, as MPI's collectives need.
/// - With `average` (the default, as DDP) the summed gradients are divided by the
///   number of ranks; without it they are the sum, for losses each rank has already
///   weighted by its share of the global batch (exact when shares differ in size).
/// - A parameter the step's backward did not reach (an unused branch) is an error
///   naming it, unless `find_unused_parameters`: then its bucket goes when the step
///   ends, and a parameter no rank used keeps its gradient undefined (the optimizer
///   skips it), as DDP does.
/// - no_sync(): the backwards under it only accumulate gradients locally; the next
///   synchronised step sends the sum (gradient accumulation without communication).
/// - With tg::DataParallel's threads inside each rank, call synchronize() after its
///   run(): every bucket is then sent at once (the threads' gradients are complete
///   only when their run ends).

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "tapegrad/autodiff/tape.hpp"
#include "tapegrad/dist/process_group.hpp"
#include "tapegrad/models/module.hpp"

namespace tg {

struct DistributedOptions {
  /// The size a bucket is filled up to (a larger parameter takes one of its own).
  std::size_t bucket_bytes = std::size_t{25} << 20;
  /// The first bucket's (the last parameters', whose gradients come first): small, so
  /// that communication starts early in the backward (as DDP's 1 MB).
  std::size_t first_bucket_bytes = std::size_t{1} << 20;
  /// Divide the summed gradients by the number of ranks.
  bool average = true;
  bool find_unused_parameters = false;
  /// Send buckets during the backward (false: all at synchronize(), which measures
  /// what the overlap hides).
  bool overlap = true;
};

/// What the last synchronised step did on this rank.
struct DistributedStepStats {
  std::size_t buckets = 0;
  /// Buckets sent before the backward returned.
  std::size_t sent_during_backward = 0;
  /// How many parameters' gradients were complete when the first bucket was sent.
  std::size_t complete_when_first_sent = 0;
  /// Gradient bytes reduced (each rank's payload, not what the ring moves).
  std::size_t bytes = 0;
  /// Seconds inside MPI calls: starting and testing requests during the backward,
  /// and waiting for them in synchronize() (the part the backward did not hide).
  double mpi_seconds_during_backward = 0;
  double wait_seconds = 0;
};

class DistributedDataParallel final : public GradientReadyListener {
 public:
  /// `model` and `group` must outlive this object. Collective: every rank constructs it.
  /// Throws Error naming the first difference when the ranks' parameters differ.
  DistributedDataParallel(Module& model, ProcessGroup& group, DistributedOptions options = {});
  ~DistributedDataParallel() override;
  DistributedDataParallel(const DistributedDataParallel&) = delete;
  DistributedDataParallel& operator=(const DistributedDataParallel&) = delete;

  /// loss.backward(seed) (seed 1 when undefined) on this thread, sending buckets as
  /// their gradients complete.
  void backward(const Var& loss, const Tensor& seed = Tensor());
  /// Sends the buckets not sent yet, waits for all, and leaves the reduced gradients
  /// in the model's parameters. Collective; call once per step, before the optimizer.
  void synchronize();

  /// While alive, backward() and synchronize() do not communicate: gradients
  /// accumulate in the parameters until the next synchronised step.
  class NoSync {
   public:
    explicit NoSync(DistributedDataParallel& ddp) : ddp_(ddp), before_(ddp.syncing_) { ddp_.syncing_ = false; }
    ~NoSync() { ddp_.syncing_ = before_; }
    NoSync(const NoSync&) = delete;
    NoSync& operator=(const NoSync&) = delete;

   private:
    DistributedDataParallel& ddp_;
    bool before_;
  };
  NoSync no_sync() { return NoSync(*this); }

  ProcessGroup& group() const { return group_; }
  /// The parameters' indices (registration order) in each bucket, in sending order.
  std::vector<std::vector<std::size_t>> bucket_layout() const;
  const DistributedStepStats& last_step() const { return stats_; }

  void gradient_ready(const Var& leaf, Tensor& grad) override;

 private:
  struct Bucket {
    std::vector<std::size_t> params;   // indices into params_
    std::vector<std::size_t> offsets;  // each one's first element in flat
    Tensor flat;
    std::size_t waiting = 0;  // parameters not yet copied in this step
    PendingReduce pending;
    bool sent = false;
  };

  void start_step();
  void copy_in(std::size_t param, const Tensor* grad);
  void send_ready_buckets();
  void copy_out();

  ProcessGroup& group_;
  DistributedOptions options_;
  std::vector<Var> params_;
  std::vector<std::pair<const Node*, std::size_t>> index_;  // sorted by node
  std::vector<std::size_t> bucket_of_;
  std::vector<Bucket> buckets_;
  // Per parameter, this step: the tape said its gradient is complete; it is in its
  // bucket; it has a gradient here (then, with find_unused_parameters, on how many ranks).
  std::vector<char> told_, copied_;
  std::vector<std::int64_t> used_;
  std::size_t next_to_send_ = 0;
  bool step_started_ = false;
  bool listened_ = false;
  bool syncing_ = true;
  DistributedStepStats stats_;
};

}  // namespace tg
