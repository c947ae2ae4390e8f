#include "tapegrad/train/progress.hpp"

#include <unistd.h>

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

namespace tg {

std::string format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  const long s = std::lround(seconds);
  if (s >= 3600) return fmt::format("{}h{:02}m", s / 3600, (s % 3600) / 60);
  if (s >= 60) return fmt::format("{}m{:02}s", s / 60, s % 60);
  return fmt::format("{}s", s);
}

Progress::Progress(std::size_t total_steps, double interval_seconds, std::FILE* out)
    : out_(out), interactive_(isatty(fileno(out)) != 0), total_(total_steps), interval_(interval_seconds) {
  start_ = last_draw_ = last_plain_ = window_start_ = std::chrono::steady_clock::now();
}

Progress::~Progress() { finish(); }

void Progress::update(std::size_t epoch, std::size_t step, double loss, std::size_t tokens, double budget_left) {
  using clock = std::chrono::steady_clock;
  const auto now = clock::now();
  if (first_step_ == 0) first_step_ = step;
  window_tokens_ += tokens;
  const double window = std::chrono::duration<double>(now - window_start_).count();
  if (window >= 2.0 || rate_ == 0) {
    if (window > 0) rate_ = window_tokens_ / window;
    if (window >= 2.0) {
      window_start_ = now;
      window_tokens_ = 0;
    }
  }
  const double elapsed = std::chrono::duration<double>(now - start_).count();
  const double per_step = step > first_step_ ? elapsed / double(step - first_step_) : 0;
  double eta = total_ > step && per_step > 0 ? per_step * double(total_ - step) : -1;
  if (budget_left >= 0) eta = eta < 0 ? budget_left : std::min(eta, budget_left);
  const std::string stats = fmt::format("epoch {} step {}{} loss {:.4f} {:.0f} tok/s ETA {}", epoch, step,
                                        total_ ? fmt::format("/{}", total_) : "", loss, rate_, format_duration(eta));
  if (interactive_) {
    if (std::chrono::duration<double>(now - last_draw_).count() < 0.2 && bar_shown_) return;
    last_draw_ = now;
    const int width = 24;
    const double fraction = total_ ? std::min(1.0, double(step) / double(total_)) : 0;
    const int filled = static_cast<int>(fraction * width);
    std::fprintf(out_, "\r[%s%s] %3.0f%% %s\033[K", std::string(filled, '#').c_str(),
                 std::string(width - filled, '.').c_str(), 100 * fraction, stats.c_str());
    bar_shown_ = true;
  } else {
    if (std::chrono::duration<double>(now - last_plain_).count() < interval_) return;
    last_plain_ = now;
    std::fprintf(out_, "%s\n", stats.c_str());
  }
  std::fflush(out_);
}

void Progress::clear_bar() {
  if (interactive_ && bar_shown_) {
    std::fprintf(out_, "\r\033[K");
    bar_shown_ = false;
  }
}

void Progress::print(const std::string& line) {
  clear_bar();
  std::fprintf(out_, "%s\n", line.c_str());
  std::fflush(out_);
}

void Progress::finish() {
  if (interactive_ && bar_shown_) {
    std::fprintf(out_, "\n");
    bar_shown_ = false;
    std::fflush(out_);
  }
}

}  // namespace tg
