#pragma once
// Timing helpers shared by the benchmarks: run two engines (or several configurations of
// them) in turns and compare medians measured in the same run.

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

/// The mean time of `block` runs of f in a row. A step of a few hundred microseconds, alternated
/// one by one with another engine's, starts on caches the other has just filled; a block
/// measures each on caches it filled itself.
inline double block_mean_us(const std::function<void()>& f, int block) {
  return time_us([&] {
           for (int i = 0; i < block; ++i) f();
         }) /
         block;
}

/// Warms both up, then alternates them `reps` times so that drift in the machine's speed
/// affects both alike. Each sample is the mean over `block` consecutive runs of one engine.
inline Comparison compare(const std::function<void()>& ours, const std::function<void()>& theirs, int warmup, int reps,
                          int block = 1) {
  for (int i = 0; i < warmup; ++i) {
    ours();
    theirs();
  }
  std::vector<double> a, b;
  for (int i = 0; i < reps; ++i) {
    a.push_back(block_mean_us(ours, block));
    b.push_back(block_mean_us(theirs, block));
  }
  return {stats_of(a), stats_of(b)};
}

/// One of the contenders of round_robin: `prepare` runs untimed before each of its blocks (to
/// set its thread counts, say), `run` is what is timed.
struct Contender {
  std::function<void()> prepare;
  std::function<void()> run;
};

/// compare for any number of contenders. Each is prepared and warmed up by `warmup` runs; then
/// in each of `samples` samples every contender times one block of `block` runs, sample i
/// starting with contender i (mod their number) and going on in order, so that all of them
/// see the same moments of the machine and each takes every place in the order in turn.
/// Returns each contender's statistics, in order.
inline std::vector<Stats> round_robin(const std::vector<Contender>& contenders, int warmup, int samples,
                                      int block = 1) {
  for (const Contender& c : contenders) {
    c.prepare();
    for (int i = 0; i < warmup; ++i) c.run();
  }
  const std::size_t n = contenders.size();
  std::vector<std::vector<double>> times(n);
  for (int sample = 0; sample < samples; ++sample) {
    for (std::size_t place = 0; place < n; ++place) {
      const std::size_t k = (std::size_t(sample) + place) % n;
      contenders[k].prepare();
      times[k].push_back(block_mean_us(contenders[k].run, block));
    }
  }
  std::vector<Stats> stats;
  for (const std::vector<double>& t : times) stats.push_back(stats_of(t));
  return stats;
}

inline void print_row(const std::string& name, const std::string& theirs_name, const Comparison& c, double per = 1,
                      const char* unit = "us") {
  std::printf("%-34s tapegrad %10.2f %s (min %10.2f)   %-9s %10.2f %s (min %10.2f)   ratio %6.2f\n", name.c_str(),
              c.ours.median_us / per, unit, c.ours.min_us / per, theirs_name.c_str(), c.theirs.median_us / per, unit,
              c.theirs.min_us / per, c.ratio());
}

}  // namespace bench
