#include "tapegrad/base/worker.hpp"

#include <utility>

namespace tg {

Worker::Worker() : thread_([this] { loop(); }) {}

Worker::~Worker() {
  {
    std::unique_lock lock(mutex_);
    cv_.wait(lock, [this] { return !busy_; });
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void Worker::start(std::function<void()> task) {
  std::unique_lock lock(mutex_);
  cv_.wait(lock, [this] { return !busy_; });
  task_ = std::move(task);
  error_ = nullptr;
  busy_ = true;
  cv_.notify_all();
}

void Worker::wait() {
  std::unique_lock lock(mutex_);
  cv_.wait(lock, [this] { return !busy_; });
  if (error_) std::rethrow_exception(std::exchange(error_, nullptr));
}

void Worker::loop() {
  std::unique_lock lock(mutex_);
  while (true) {
    cv_.wait(lock, [this] { return busy_ || stop_; });
    if (stop_ && !busy_) return;
    std::function<void()> task = std::move(task_);
    lock.unlock();
    std::exception_ptr error;
    try {
      task();
    } catch (...) {
      error = std::current_exception();
    }
    lock.lock();
    error_ = error;
    busy_ = false;
    cv_.notify_all();
  }
}

}  // namespace tg
