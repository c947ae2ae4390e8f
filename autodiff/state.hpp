#pragma once
// Thread-local state shared by the autodiff sources (not a public header).

#include <cstdint>

namespace tg {
class Tape;
class LeafGradients;
class GradientReadyListener;
namespace detail {

struct ThreadState {
  bool grad_enabled = true;
  bool anomaly = false;
  std::uint32_t scope = 0;
  std::uint32_t scope_instance = 0;
  Tape* tape = nullptr;                             // null: the thread's default tape
  LeafGradients* leaf_gradients = nullptr;          // null: leaves' gradients go to their nodes
  GradientReadyListener* gradient_ready = nullptr;  // null: nobody is told
};

ThreadState& thread_state();

}  // namespace detail
}  // namespace tg
