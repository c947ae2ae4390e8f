#pragma once
// One long-lived thread that runs tasks handed to it, one at a time: the second
// replica of data-parallel training (train.cpp). Long-lived because a thread
// owns state that must carry from step to step: its tape and its default
// random generator (dropout's masks), which a checkpoint saves.
#include <condition_variable>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>

namespace tg::cli {

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

}  // namespace tg::cli
