#include "data_parallel.hpp"

#include <cstdint>
#include <cstring>
#include <exception>

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

ShardRunner::~ShardRunner() = default;

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
  std::vector<std::exception_ptr> errors(workers_.size() + 1);
  {
    OneBlasThread one_thread;
    for (std::size_t i = 0; i < workers_.size(); ++i) {
      workers_[i]->start([&, i] {
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
    try {
      job(0, training);
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
    for (auto& params : replica_params_) {
      for (Var& p : params) p.zero_grad();
    }
    std::rethrow_exception(error);
  }
  add_replica_grads(0, model_params_.size());
}

}  // namespace detail
}  // namespace tg
