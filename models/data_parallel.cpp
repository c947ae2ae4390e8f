#include "data_parallel.hpp"

#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <exception>
#include <mutex>
#include <thread>

#if defined(__SSE__) || defined(__x86_64__)
#include <xmmintrin.h>
#endif

#include <fmt/format.h>

#include "../autodiff/tape.hpp"
#include "../ops/blas.hpp"
#include "../ops/dropout.hpp"

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

// A thread that waits for one job at a time.
struct ShardRunner::Worker {
  std::mutex mutex;
  std::condition_variable wake;
  std::condition_variable done;
  const std::function<void()>* job = nullptr;  // set while there is work; cleared when it is done
  bool stop = false;
  std::exception_ptr error;
  std::thread thread;  // last: it starts with every other member constructed

  Worker() : thread([this] { loop(); }) {}

  void loop() {
    std::unique_lock lock(mutex);
    for (;;) {
      wake.wait(lock, [&] { return job != nullptr || stop; });
      if (stop) return;
      const std::function<void()>* current = job;
      lock.unlock();
      std::exception_ptr failure;
      try {
        (*current)();
      } catch (...) {
        failure = std::current_exception();
      }
      lock.lock();
      error = failure;
      job = nullptr;
      done.notify_one();
    }
  }

  void start(const std::function<void()>& work) {
    std::lock_guard lock(mutex);
    job = &work;
    error = nullptr;
    wake.notify_one();
  }

  std::exception_ptr wait() {
    std::unique_lock lock(mutex);
    done.wait(lock, [&] { return job == nullptr; });
    return error;
  }
};

ShardRunner::ShardRunner(std::vector<Var> model_params, std::vector<std::vector<Var>> replica_params)
    : model_params_(std::move(model_params)), replica_params_(std::move(replica_params)) {
  for (const auto& params : replica_params_) {
    if (params.size() != model_params_.size()) {
      throw Error(fmt::format("DataParallel: a replica has {} parameters, the model {}", params.size(),
                              model_params_.size()));
    }
  }
  for (std::size_t i = 0; i < replica_params_.size(); ++i) workers_.push_back(std::make_unique<Worker>());
}

ShardRunner::~ShardRunner() {
  for (auto& worker : workers_) {
    {
      std::lock_guard lock(worker->mutex);
      worker->stop = true;
      worker->wake.notify_one();
    }
    worker->thread.join();
  }
}

void ShardRunner::sync_replica(std::size_t replica) {
  for (std::size_t p = 0; p < model_params_.size(); ++p) {
    const Tensor& from = model_params_[p].value();
    Var& to = replica_params_[replica][p];
    to.zero_grad();
    if (to.value().dtype() != from.dtype() || to.value().shape() != from.shape()) {
      to.value() = from;  // the model changed dtype (Module::to): follow it
      continue;
    }
    dispatch(from.dtype(), [&](auto zero) {
      using T = decltype(zero);
      std::memcpy(to.value().array<T>().data(), from.array<T>().data(), from.size() * sizeof(T));
    });
  }
}

void ShardRunner::add_replica_grads(std::size_t first_param, std::size_t end_param) {
  for (const auto& params : replica_params_) {
    for (std::size_t p = first_param; p < end_param; ++p) {
      const Tensor& grad = params[p].grad();
      if (!grad.defined()) continue;
      Tensor& total = model_params_[p].grad();
      if (total.defined()) {
        total.add_(grad);
      } else {
        total = grad;
      }
    }
  }
}

void ShardRunner::run(bool training, const std::function<void(std::size_t shard, bool training)>& job) {
  if (inside_run) throw Error("DataParallel::run: called from inside a run's work");
  inside_run = true;
  struct Leave {
    ~Leave() { inside_run = false; }
  } leave;
  if (workers_.empty()) {
    job(0, training);
    return;
  }
  const unsigned settings = float_settings();
  std::vector<std::uint64_t> seeds;
  for (std::size_t i = 0; i < workers_.size(); ++i) {
    seeds.push_back(static_cast<std::uint64_t>(default_generator().uniform() * 0x1.0p53));
  }
  std::vector<std::function<void()>> jobs;
  for (std::size_t i = 0; i < workers_.size(); ++i) {
    jobs.emplace_back([&, i] {
      set_float_settings(settings);
      default_generator().manual_seed(seeds[i]);
      current_tape().reset();
      sync_replica(i);
      inside_run = true;
      struct Leave {
        ~Leave() { inside_run = false; }
      } leave_worker;
      job(i + 1, training);
    });
  }

  std::vector<std::exception_ptr> errors(workers_.size() + 1);
  {
    OneBlasThread one_thread;
    for (std::size_t i = 0; i < workers_.size(); ++i) workers_[i]->start(jobs[i]);
    try {
      job(0, training);
    } catch (...) {
      errors[0] = std::current_exception();
    }
    for (std::size_t i = 0; i < workers_.size(); ++i) errors[i + 1] = workers_[i]->wait();
  }
  for (const std::exception_ptr& error : errors) {
    if (!error) continue;
    for (auto& params : replica_params_) {
      for (Var& p : params) p.zero_grad();
    }
    std::rethrow_exception(error);
  }
  add_replica_grads(0, model_params_.size());
}

}  // namespace detail
}  // namespace tg
