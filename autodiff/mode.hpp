#pragma once
/// Thread-local modes: gradient recording and anomaly detection.

namespace tg {

bool is_grad_enabled();
/// While alive, ops record nothing and their results do not require grad.
class NoGradGuard {
 public:
  NoGradGuard();
  ~NoGradGuard();
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool previous_;
};

bool is_anomaly_enabled();
/// While alive, every op's forward output and backward gradients are checked
/// for NaN and inf; the first one found throws AnomalyError naming the op, its
/// name scope and its input shapes. Slow: for debugging.
class AnomalyMode {
 public:
  explicit AnomalyMode(bool enabled = true);
  ~AnomalyMode();
  AnomalyMode(const AnomalyMode&) = delete;
  AnomalyMode& operator=(const AnomalyMode&) = delete;

 private:
  bool previous_;
};

}  // namespace tg
