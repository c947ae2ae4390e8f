#pragma once
// Training progress: on a terminal, one line redrawn in place (a bar with the
// epoch, step, loss, tokens per second and ETA); otherwise plain lines every
// few seconds, so logs and pipes stay readable. Other output goes through
// print(), which keeps the bar below it.
#include <chrono>
#include <cstdio>
#include <string>

namespace tg {

class Progress {
 public:
  /// total_steps: the planned steps (0: unknown); interval: seconds between plain lines.
  explicit Progress(std::size_t total_steps, double interval_seconds = 10.0, std::FILE* out = stdout);
  ~Progress();
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  /// After each step: the epoch (1-based), the step, the running loss, tokens processed in the
  /// step, and the seconds left by the time budget (negative: none).
  void update(std::size_t epoch, std::size_t step, double loss, std::size_t tokens, double budget_left);
  /// A line of its own (dev scores, checkpoint notes), above the bar.
  void print(const std::string& line);
  /// Ends the bar's line.
  void finish();
  /// Tokens per second over the last few seconds.
  double tokens_per_second() const { return rate_; }
  /// Whether output is a terminal (the bar) or not (plain lines).
  bool interactive() const { return interactive_; }
  void set_total_steps(std::size_t total) { total_ = total; }

 private:
  void clear_bar();
  std::FILE* out_;
  bool interactive_;
  std::size_t total_;
  double interval_;
  std::chrono::steady_clock::time_point last_draw_, last_plain_, window_start_;
  std::size_t window_tokens_ = 0;
  double rate_ = 0;
  bool bar_shown_ = false;
  std::size_t first_step_ = 0;
  std::chrono::steady_clock::time_point start_;
};

/// "4m05s", "1h02m", "12s".
std::string format_duration(double seconds);

}  // namespace tg
