#pragma once
/// One long-lived thread that runs tasks handed to it, one at a time: a shard's
/// thread in DataParallel (data_parallel.hpp). Long-lived because a thread owns
/// state that carries from step to step: its tape, which keeps its memory across
/// resets, and its thread-local caches.
#include <condition_variable>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>

namespace tg {

class Worker {
 public:
  Worker();
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  /// Starts `task` on the worker thread; wait() returns when it is done.
  void start(std::function<void()> task);
  /// Waits for the task started last and rethrows what it threw.
  void wait();
  /// start(task), then wait().
  void run(std::function<void()> task) {
    start(std::move(task));
    wait();
  }

 private:
  void loop();
  std::mutex mutex_;
  std::condition_variable cv_;
  std::function<void()> task_;
  bool busy_ = false, stop_ = false;
  std::exception_ptr error_;
  std::thread thread_;
};

}  // namespace tg
