#include "tapegrad/models/prune.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

#include <fmt/format.h>

namespace tg {
namespace {

std::vector<double> magnitudes(const Tensor& t) {
  std::vector<double> out = t.to_vector();
  for (double& v : out) v = std::abs(v);
  return out;
}

}  // namespace

PruningMasks::PruningMasks(std::vector<NamedVar> weights) : weights_(std::move(weights)) {
  for (const NamedVar& w : weights_) {
    if (!w.var.defined() || !w.var.is_leaf()) {
      throw Error(fmt::format("PruningMasks: '{}' is not a leaf weight", w.name));
    }
    kept_.emplace_back(w.var.size(), true);
  }
}

void PruningMasks::prune_to(double sparsity, PruneScope scope) {
  if (!(sparsity >= 0.0 && sparsity <= 1.0)) {
    throw Error(fmt::format("prune_to: sparsity {} is outside [0, 1]", sparsity));
  }
  // Entries (weight, index) ranked by |w|, pruned ones first (their values are zero, or are
  // treated as such), ties by position; the first `target` of a group are pruned.
  struct Entry {
    double magnitude;
    std::size_t weight, index;
  };
  auto prune_group = [&](std::vector<Entry>& entries) {
    const auto target = static_cast<std::size_t>(std::floor(sparsity * double(entries.size()) + 1e-9));
    if (target == 0) return;
    auto less = [](const Entry& a, const Entry& b) {
      if (a.magnitude != b.magnitude) return a.magnitude < b.magnitude;
      return a.weight != b.weight ? a.weight < b.weight : a.index < b.index;
    };
    std::nth_element(entries.begin(), entries.begin() + static_cast<std::ptrdiff_t>(target - 1), entries.end(), less);
    for (std::size_t i = 0; i < target; ++i) kept_[entries[i].weight][entries[i].index] = false;
  };
  auto entries_of = [&](std::size_t w, std::vector<Entry>& out) {
    const std::vector<double> m = magnitudes(weights_[w].var.value());
    for (std::size_t i = 0; i < m.size(); ++i) out.push_back({kept_[w][i] ? m[i] : -1.0, w, i});
  };
  if (scope == PruneScope::global) {
    std::vector<Entry> all;
    for (std::size_t w = 0; w < weights_.size(); ++w) entries_of(w, all);
    prune_group(all);
  } else {
    for (std::size_t w = 0; w < weights_.size(); ++w) {
      std::vector<Entry> one;
      entries_of(w, one);
      prune_group(one);
    }
  }
  apply();
}

void PruningMasks::apply() {
  for (std::size_t w = 0; w < weights_.size(); ++w) {
    if (std::all_of(kept_[w].begin(), kept_[w].end(), [](bool k) { return k; })) continue;
    Tensor& value = weights_[w].var.mutable_value();
    dispatch(value.dtype(), [&](auto zero) {
      using T = decltype(zero);
      T* data = value.array<T>().data();
      for (std::size_t i = 0; i < value.size(); ++i) {
        if (!kept_[w][i]) data[i] = T(0);
      }
    });
  }
}

void PruningMasks::prune_zeros() {
  for (std::size_t w = 0; w < weights_.size(); ++w) {
    const std::vector<double> m = magnitudes(weights_[w].var.value());
    for (std::size_t i = 0; i < m.size(); ++i) {
      if (m[i] == 0.0) kept_[w][i] = false;
    }
  }
}

double PruningMasks::sparsity() const {
  std::size_t pruned = 0, total = 0;
  for (const auto& k : kept_) {
    pruned += static_cast<std::size_t>(std::count(k.begin(), k.end(), false));
    total += k.size();
  }
  return total == 0 ? 0.0 : double(pruned) / double(total);
}

double PruningMasks::sparsity(const std::string& name) const {
  for (std::size_t w = 0; w < weights_.size(); ++w) {
    if (weights_[w].name != name) continue;
    const auto& k = kept_[w];
    return k.empty() ? 0.0 : double(std::count(k.begin(), k.end(), false)) / double(k.size());
  }
  throw Error(fmt::format("PruningMasks: no weight named '{}'", name));
}

std::map<std::string, Tensor> PruningMasks::state_dict() const {
  std::map<std::string, Tensor> out;
  for (std::size_t w = 0; w < weights_.size(); ++w) {
    Tensor mask = Tensor::empty(weights_[w].var.shape(), DType::f32);
    float* data = mask.array<float>().data();
    for (std::size_t i = 0; i < kept_[w].size(); ++i) data[i] = kept_[w][i] ? 1.0f : 0.0f;
    out.emplace(weights_[w].name, std::move(mask));
  }
  return out;
}

void PruningMasks::load_state_dict(const std::map<std::string, Tensor>& state) {
  std::vector<std::vector<bool>> kept;
  for (const NamedVar& w : weights_) {
    auto it = state.find(w.name);
    if (it == state.end()) throw Error(fmt::format("pruning masks: no mask for '{}'", w.name));
    const Tensor& mask = it->second;
    if (mask.shape() != w.var.shape()) {
      throw Error(fmt::format("pruning masks: the mask of '{}' is {}, the weight {}", w.name, shape_str(mask.shape()),
                              shape_str(w.var.shape())));
    }
    std::vector<bool>& k = kept.emplace_back(mask.size());
    const std::vector<double> values = mask.to_vector();
    for (std::size_t i = 0; i < values.size(); ++i) {
      const double v = values[i];
      if (v != 0.0 && v != 1.0) {
        throw Error(fmt::format("pruning masks: the mask of '{}' holds {} at {}; masks hold 0 and 1", w.name, v, i));
      }
      k[i] = v == 1.0;
    }
  }
  kept_ = std::move(kept);
}

double gradual_sparsity(std::size_t step, std::size_t start, std::size_t end, double final_sparsity, double initial) {
  if (step <= start) return initial;
  if (step >= end || end <= start) return final_sparsity;
  const double left = 1.0 - double(step - start) / double(end - start);
  return final_sparsity + (initial - final_sparsity) * left * left * left;
}

}  // namespace tg
