#include "tapegrad/dist/process_group.hpp"

#include <cstdlib>
#include <utility>

#include <fmt/format.h>

#include "tapegrad/base/error.hpp"

namespace tg {
namespace {

std::string mpi_error_text(int code) {
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  if (MPI_Error_string(code, text, &length) != MPI_SUCCESS) return fmt::format("MPI error {}", code);
  return std::string(text, static_cast<std::size_t>(length));
}

void check(int code, const std::string& what) {
  if (code != MPI_SUCCESS) throw Error(fmt::format("{}: {}", what, mpi_error_text(code)));
}

// Initialises MPI if nobody has, and finalises it at exit if it did.
class MpiRuntime {
 public:
  MpiRuntime() {
    int initialized = 0;
    MPI_Initialized(&initialized);
    if (initialized) return;
    int provided = 0;
    check(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_SERIALIZED, &provided), "MPI_Init_thread");
    owned_ = true;
    if (provided < MPI_THREAD_SERIALIZED) {
      throw Error(fmt::format("MPI_Init_thread: this MPI gives thread level {}, tapegrad needs MPI_THREAD_SERIALIZED",
                              provided));
    }
  }
  ~MpiRuntime() {
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (owned_ && !finalized) MPI_Finalize();
  }
  MpiRuntime(const MpiRuntime&) = delete;
  MpiRuntime& operator=(const MpiRuntime&) = delete;

 private:
  bool owned_ = false;
};

MPI_Datatype mpi_type(const Tensor& tensor) { return tensor.dtype() == DType::f32 ? MPI_FLOAT : MPI_DOUBLE; }

void* data_of(Tensor& tensor) {
  if (tensor.dtype() == DType::f32) return tensor.array<float>().data();
  return tensor.array<double>().data();
}

int count_of(const Tensor& tensor, const char* op) {
  if (tensor.size() > static_cast<std::size_t>(std::numeric_limits<int>::max())) {
    throw Error(fmt::format("{}: {} elements are more than one MPI call takes", op, tensor.size()));
  }
  return static_cast<int>(tensor.size());
}

}  // namespace

PendingReduce::PendingReduce(PendingReduce&& other) noexcept
    : request_(std::exchange(other.request_, MPI_REQUEST_NULL)), what_(std::move(other.what_)) {}

PendingReduce& PendingReduce::operator=(PendingReduce&& other) noexcept {
  if (this != &other) {
    if (active()) MPI_Wait(&request_, MPI_STATUS_IGNORE);
    request_ = std::exchange(other.request_, MPI_REQUEST_NULL);
    what_ = std::move(other.what_);
  }
  return *this;
}

PendingReduce::~PendingReduce() {
  if (active()) MPI_Wait(&request_, MPI_STATUS_IGNORE);
}

bool PendingReduce::test() {
  if (!active()) return true;
  int done = 0;
  check(MPI_Test(&request_, &done, MPI_STATUS_IGNORE), what_);
  return done != 0;
}

void PendingReduce::wait() {
  if (!active()) return;
  check(MPI_Wait(&request_, MPI_STATUS_IGNORE), what_);
}

ProcessGroup& ProcessGroup::world() {
  static MpiRuntime runtime;
  static ProcessGroup group(MPI_COMM_WORLD);
  return group;
}

ProcessGroup::ProcessGroup(MPI_Comm comm) : comm_(comm) {
  int initialized = 0;
  MPI_Initialized(&initialized);
  if (!initialized) throw Error("ProcessGroup: MPI is not initialised (ProcessGroup::world() initialises it)");
  MPI_Comm_set_errhandler(comm_, MPI_ERRORS_RETURN);
  check(MPI_Comm_rank(comm_, &rank_), "MPI_Comm_rank");
  check(MPI_Comm_size(comm_, &size_), "MPI_Comm_size");
}

void ProcessGroup::broadcast(Tensor& tensor, int root) {
  if (root < 0 || root >= size_) throw Error(fmt::format("broadcast: root {} is not a rank of {}", root, size_));
  check(MPI_Bcast(data_of(tensor), count_of(tensor, "broadcast"), mpi_type(tensor), root, comm_),
        fmt::format("broadcast of {} {} from rank {} over {} ranks", shape_str(tensor.shape()),
                    dtype_name(tensor.dtype()), root, size_));
}

void ProcessGroup::allreduce_sum(Tensor& tensor) {
  check(MPI_Allreduce(MPI_IN_PLACE, data_of(tensor), count_of(tensor, "allreduce"), mpi_type(tensor), MPI_SUM, comm_),
        fmt::format("allreduce of {} {} over {} ranks", shape_str(tensor.shape()), dtype_name(tensor.dtype()), size_));
}

void ProcessGroup::allreduce_sum(std::span<double> values) {
  check(MPI_Allreduce(MPI_IN_PLACE, values.data(), static_cast<int>(values.size()), MPI_DOUBLE, MPI_SUM, comm_),
        fmt::format("allreduce of {} numbers over {} ranks", values.size(), size_));
}

void ProcessGroup::allreduce_sum(std::span<std::int64_t> values) {
  check(MPI_Allreduce(MPI_IN_PLACE, values.data(), static_cast<int>(values.size()), MPI_INT64_T, MPI_SUM, comm_),
        fmt::format("allreduce of {} counts over {} ranks", values.size(), size_));
}

PendingReduce ProcessGroup::start_allreduce_sum(Tensor& tensor) {
  std::string what =
      fmt::format("allreduce of {} {} over {} ranks", shape_str(tensor.shape()), dtype_name(tensor.dtype()), size_);
  MPI_Request request = MPI_REQUEST_NULL;
  check(MPI_Iallreduce(MPI_IN_PLACE, data_of(tensor), count_of(tensor, "allreduce"), mpi_type(tensor), MPI_SUM, comm_,
                       &request),
        what);
  return PendingReduce(request, std::move(what));
}

std::vector<std::string> ProcessGroup::allgather(const std::string& text) {
  const int length = static_cast<int>(text.size());
  std::vector<int> lengths(static_cast<std::size_t>(size_));
  check(MPI_Allgather(&length, 1, MPI_INT, lengths.data(), 1, MPI_INT, comm_), "allgather of the texts' lengths");
  std::vector<int> offsets(lengths.size());
  std::size_t total = 0;
  for (std::size_t r = 0; r < lengths.size(); ++r) {
    offsets[r] = static_cast<int>(total);
    total += static_cast<std::size_t>(lengths[r]);
  }
  std::string all(total, '\0');
  check(MPI_Allgatherv(text.data(), length, MPI_CHAR, all.data(), lengths.data(), offsets.data(), MPI_CHAR, comm_),
        "allgather of texts");
  std::vector<std::string> texts;
  for (std::size_t r = 0; r < lengths.size(); ++r) {
    texts.push_back(all.substr(static_cast<std::size_t>(offsets[r]), static_cast<std::size_t>(lengths[r])));
  }
  return texts;
}

void ProcessGroup::barrier() { check(MPI_Barrier(comm_), fmt::format("barrier of {} ranks", size_)); }

bool launched_by_mpi() {
  for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_SIZE", "MPI_LOCALNRANKS"}) {
    if (std::getenv(name) != nullptr) return true;
  }
  return false;
}

}  // namespace tg
