#include "tapegrad/models/data_parallel.hpp"

#include <algorithm>
#include <cstdint>
#include <exception>

#if defined(__SSE__) || defined(__x86_64__)
#include <xmmintrin.h>
#endif

#include <fmt/format.h>

#include "tapegrad/base/generator.hpp"
#include "tapegrad/kernels/blas.hpp"

namespace tg {

RowRange shard_rows(std::size_t batch, std::size_t shard, std::size_t shards) {
  if (shard >= shards) throw Error(fmt::format("shard_rows: shard {} of {} does not exist", shard, shards));
  const std::size_t base = batch / shards, extra = batch % shards;
  const std::size_t begin = shard * base + std::min(shard, extra);
  return {begin, begin + base + (shard < extra ? 1 : 0)};
}

namespace detail {
namespace {

// The caller's float settings (FTZ/DAZ), which a worker takes on for its shard.
unsigned float_settings() {
#if defined(__SSE__) || defined(__x86_64__)
  return _mm_getcsr();
#else
  return 0;
#endif
}

void set_float_settings([[maybe_unused]] unsigned settings) {
#if defined(__SSE__) || defined(__x86_64__)
  _mm_setcsr(settings);
#endif
}

thread_local bool inside_run = false;
// Clears inside_run when a run's work ends, thrown out of or not.
struct LeaveRun {
  ~LeaveRun() { inside_run = false; }
};

// Sets OpenBLAS to one thread for the scope and restores the previous count.
class OneBlasThread {
 public:
  OneBlasThread() : previous_(blas_threads()) {
    if (previous_ != 1) set_blas_threads(1);
  }
  ~OneBlasThread() {
    if (previous_ != 1) set_blas_threads(previous_);
  }
  OneBlasThread(const OneBlasThread&) = delete;
  OneBlasThread& operator=(const OneBlasThread&) = delete;

 private:
  int previous_;
};

}  // namespace

ShardRunner::ShardRunner(std::vector<Var> model_params, std::size_t workers) : model_params_(std::move(model_params)) {
  for (std::size_t i = 0; i < workers; ++i) {
    worker_grads_.push_back(std::make_unique<LeafGradients>(model_params_));
    workers_.push_back(std::make_unique<Worker>());
  }
}

ShardRunner::~ShardRunner() = default;

void ShardRunner::add_worker_grads() {
  for (const auto& grads : worker_grads_) {
    for (std::size_t p = 0; p < model_params_.size(); ++p) {
      Tensor& grad = grads->grad(p);
      if (!grad.defined()) continue;
      Tensor& total = model_params_[p].grad();
      if (total.defined()) {
        total.add_(grad);
      } else {
        total = std::move(grad);
      }
    }
    grads->clear();
  }
}

void ShardRunner::run(const std::function<void(std::size_t shard)>& job) {
  if (inside_run) throw Error("DataParallel::run: called from inside a run's work");
  inside_run = true;
  LeaveRun leave;
  if (workers_.empty()) {
    job(0);
    return;
  }
  const unsigned settings = float_settings();
  std::vector<std::uint64_t> seeds;
  for (std::size_t i = 0; i < workers_.size(); ++i) {
    seeds.push_back(static_cast<std::uint64_t>(default_generator().uniform() * 0x1.0p53));
  }
  std::vector<std::exception_ptr> errors(workers_.size() + 1);
  {
    OneBlasThread one_thread;
    for (std::size_t i = 0; i < workers_.size(); ++i) {
      workers_[i]->start([&, i] {
        set_float_settings(settings);
        default_generator().manual_seed(seeds[i]);
        current_tape().reset();
        worker_grads_[i]->clear();
        UseLeafGradients own_gradients(*worker_grads_[i]);
        inside_run = true;
        LeaveRun leave_worker;
        job(i + 1);
      });
    }
    try {
      job(0);
    } catch (...) {
      errors[0] = std::current_exception();
    }
    for (std::size_t i = 0; i < workers_.size(); ++i) {
      try {
        workers_[i]->wait();
      } catch (...) {
        errors[i + 1] = std::current_exception();
      }
    }
  }
  for (const std::exception_ptr& error : errors) {
    if (!error) continue;
    for (auto& grads : worker_grads_) grads->clear();
    std::rethrow_exception(error);
  }
  add_worker_grads();
}

}  // namespace detail
}  // namespace tg
