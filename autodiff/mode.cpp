#include "tapegrad/autodiff/mode.hpp"

#include "tapegrad/autodiff/state.hpp"

namespace tg {

namespace detail {
ThreadState& thread_state() {
  thread_local ThreadState state;
  return state;
}
}  // namespace detail

bool is_grad_enabled() { return detail::thread_state().grad_enabled; }

NoGradGuard::NoGradGuard() : previous_(detail::thread_state().grad_enabled) {
  detail::thread_state().grad_enabled = false;
}
NoGradGuard::~NoGradGuard() { detail::thread_state().grad_enabled = previous_; }

bool is_anomaly_enabled() { return detail::thread_state().anomaly; }

AnomalyMode::AnomalyMode(bool enabled) : previous_(detail::thread_state().anomaly) {
  detail::thread_state().anomaly = enabled;
}
AnomalyMode::~AnomalyMode() { detail::thread_state().anomaly = previous_; }

}  // namespace tg
