#pragma once
/// The error of the metrics (metrics/).

#include "tapegrad/base/error.hpp"

namespace tg {

/// Inputs a metric cannot score: predictions and references of different
/// counts, a word without references, an empty corpus. The message names the
/// metric and the item.
struct MetricError : Error {
  using Error::Error;
};

}  // namespace tg
