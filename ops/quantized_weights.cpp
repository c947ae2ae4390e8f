#include "tapegrad/ops/quantized_weights.hpp"

#include <atomic>
#include <mutex>
#include <shared_mutex>
#include <unordered_map>

#include <fmt/format.h>

#include "tapegrad/autodiff/mode.hpp"
#include "tapegrad/base/error.hpp"

namespace tg {
namespace {

struct Registered {
  const Int8Matrix* copy;
  ActivationQuantization activations;
};

// Every live QuantizedWeights' copies by weight node. The count lets products of models
// without int8 copies skip the lock.
struct Registry {
  std::shared_mutex mutex;
  std::unordered_map<const Node*, Registered> copies;
  std::atomic<std::size_t> count{0};
};

Registry& registry() {
  static Registry r;
  return r;
}

std::string name_of(const Var& w) { return w.name().empty() ? std::string("a weight") : fmt::format("'{}'", w.name()); }

}  // namespace

QuantizedWeights::QuantizedWeights(ActivationQuantization activations) : activations_(activations) {}

QuantizedWeights::~QuantizedWeights() {
  Registry& r = registry();
  std::unique_lock lock(r.mutex);
  for (const Entry& e : entries_) r.copies.erase(e.weight.node());
  r.count = r.copies.size();
}

void QuantizedWeights::add(const Var& weight, Int8Matrix q) {
  if (!weight.defined() || !weight.is_leaf() || weight.dtype() != DType::f32 || weight.dim() != 2 ||
      weight.shape()[0] != q.rows || weight.shape()[1] != q.cols) {
    throw Error(fmt::format(
        "QuantizedWeights: {} must be a float32 leaf [{}, {}] for its int8 copy{}", name_of(weight), q.rows, q.cols,
        weight.defined() ? fmt::format(", not {} {}", dtype_name(weight.dtype()), shape_str(weight.shape())) : ""));
  }
  auto copy = std::make_unique<const Int8Matrix>(std::move(q));
  Registry& r = registry();
  std::unique_lock lock(r.mutex);
  if (!r.copies.emplace(weight.node(), Registered{copy.get(), activations_}).second) {
    throw Error(fmt::format("QuantizedWeights: {} already has an int8 copy", name_of(weight)));
  }
  r.count = r.copies.size();
  entries_.push_back({weight, std::move(copy)});
}

const Int8Matrix* QuantizedWeights::find(const Var& weight) const {
  for (const Entry& e : entries_) {
    if (e.weight.node() == weight.node()) return e.copy.get();
  }
  return nullptr;
}

bool quantized_times_weight_t(std::size_t m, std::size_t n, std::size_t k, const float* x, const Var& w,
                              bool accumulate, float* y) {
  Registry& r = registry();
  if (r.count.load(std::memory_order_relaxed) == 0 || is_grad_enabled()) return false;
  Registered found{};
  {
    std::shared_lock lock(r.mutex);
    auto it = r.copies.find(w.node());
    if (it == r.copies.end()) return false;
    found = it->second;
  }
  if (found.copy->rows != n || found.copy->cols != k) return false;
  int8_times_weight_t(m, x, *found.copy, found.activations, accumulate, y);
  return true;
}

}  // namespace tg
