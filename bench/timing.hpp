#pragma once
// Timing helpers shared by the benchmarks: run two engines alternately and
// compare medians measured in the same run.

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

namespace bench {

struct Stats {
  double median_us = 0;
  double min_us = 0;
};

inline Stats stats_of(std::vector<double> samples) {
  std::sort(samples.begin(), samples.end());
  std::size_t n = samples.size();
  double median = n % 2 ? samples[n / 2] : 0.5 * (samples[n / 2 - 1] + samples[n / 2]);
  return {median, samples.front()};
}

inline double time_us(const std::function<void()>& f) {
  auto start = std::chrono::steady_clock::now();
  f();
  return std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start).count();
}

struct Comparison {
  Stats ours;
  Stats theirs;
  /// theirs.median / ours.median: above 1 means tapegrad is faster.
  double ratio() const { return theirs.median_us / ours.median_us; }
};

/// Warms both up, then alternates them `reps` times so that drift in the machine's speed
/// affects both alike. Each sample is the mean over `block` consecutive runs of one engine:
/// a step of a few hundred microseconds, alternated one by one, starts on caches the other
/// engine has just filled, and a block measures both on caches they filled themselves.
inline Comparison compare(const std::function<void()>& ours, const std::function<void()>& theirs, int warmup, int reps,
                          int block = 1) {
  for (int i = 0; i < warmup; ++i) {
    ours();
    theirs();
  }
  auto run_block = [block](const std::function<void()>& f) {
    return time_us([&] {
             for (int i = 0; i < block; ++i) f();
           }) /
           block;
  };
  std::vector<double> a, b;
  for (int i = 0; i < reps; ++i) {
    a.push_back(run_block(ours));
    b.push_back(run_block(theirs));
  }
  return {stats_of(a), stats_of(b)};
}

inline void print_row(const std::string& name, const std::string& theirs_name, const Comparison& c, double per = 1,
                      const char* unit = "us") {
  std::printf("%-34s tapegrad %10.2f %s (min %10.2f)   %-9s %10.2f %s (min %10.2f)   ratio %6.2f\n", name.c_str(),
              c.ours.median_us / per, unit, c.ours.min_us / per, theirs_name.c_str(), c.theirs.median_us / per, unit,
              c.theirs.min_us / per, c.ratio());
}

}  // namespace bench
