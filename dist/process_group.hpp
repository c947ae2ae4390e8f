#pragma once
/// A group of processes that exchange tensors over MPI (Debian's OpenMPI): the
/// collectives distributed training needs, with errors that name the call and the
/// group instead of MPI's default of aborting the job.
///
///   tg::ProcessGroup& world = tg::ProcessGroup::world();  // MPI_COMM_WORLD
///   world.broadcast(tensor, 0);
///   world.allreduce_sum(gradient);                        // float32 or float64, in place
///
/// MPI is initialised by the first world() (with MPI_THREAD_SERIALIZED: tapegrad's
/// worker threads never call MPI, but a program may call it from a thread other than
/// the one that started it, one at a time) and finalised once, when the program
/// exits. A program that initialises MPI itself keeps that job: world() then only
/// wraps MPI_COMM_WORLD, and the program finalises MPI. Every call here is collective:
/// all ranks of the group must make the same calls in the same order.

#include <mpi.h>

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "tapegrad/autodiff/tensor.hpp"

namespace tg {

/// A non-blocking allreduce in flight (ProcessGroup::start_allreduce_sum): its tensor
/// must stay alive and untouched until wait() or a test() that returns true.
class PendingReduce {
 public:
  PendingReduce() = default;
  PendingReduce(MPI_Request request, std::string what) : request_(request), what_(std::move(what)) {}
  PendingReduce(PendingReduce&& other) noexcept;
  PendingReduce& operator=(PendingReduce&& other) noexcept;
  PendingReduce(const PendingReduce&) = delete;
  PendingReduce& operator=(const PendingReduce&) = delete;
  /// Waits for one still in flight at destruction (dropping it would let MPI write
  /// into freed memory); errors are not thrown from here.
  ~PendingReduce();

  /// Whether it has completed (true also once waited for); lets MPI make progress.
  bool test();
  void wait();
  bool active() const { return request_ != MPI_REQUEST_NULL; }
  /// Forgets a request still in flight without waiting (MPI may not free one of a
  /// collective): for error paths, where a lost rank would make wait() hang. The
  /// caller must then keep the tensor's memory alive for good.
  void abandon() { request_ = MPI_REQUEST_NULL; }

 private:
  MPI_Request request_ = MPI_REQUEST_NULL;
  std::string what_;
};

class ProcessGroup {
 public:
  /// Every process of the job (MPI_COMM_WORLD); initialises MPI at the first call.
  static ProcessGroup& world();
  /// The processes of `comm`, which the caller keeps valid (MPI must be initialised).
  /// Errors on it are returned to tapegrad, which throws them (MPI_ERRORS_RETURN).
  explicit ProcessGroup(MPI_Comm comm);

  int rank() const { return rank_; }
  int size() const { return size_; }
  MPI_Comm comm() const { return comm_; }

  /// Rank `root`'s tensor into every rank's, which must have its shape and dtype.
  void broadcast(Tensor& tensor, int root);
  /// Every rank's tensor becomes the elementwise sum over the ranks.
  void allreduce_sum(Tensor& tensor);
  void allreduce_sum(std::span<double> values);
  void allreduce_sum(std::span<std::int64_t> values);
  /// allreduce_sum(tensor) without waiting for it.
  PendingReduce start_allreduce_sum(Tensor& tensor);
  /// Every rank's `text`, in rank order.
  std::vector<std::string> allgather(const std::string& text);
  void barrier();

 private:
  MPI_Comm comm_;
  int rank_ = 0;
  int size_ = 1;
};

/// Whether this process was started by mpirun (or another MPI launcher) as part of a
/// job: the launchers' environment variables say so, without initialising MPI.
bool launched_by_mpi();

}  // namespace tg
