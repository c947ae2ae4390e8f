#include "tapegrad/dist/distributed_data_parallel.hpp"

#include <algorithm>
#include <chrono>
#include <memory>

#include <fmt/format.h>

#include "tapegrad/base/error.hpp"

namespace tg {
namespace {

using clock_type = std::chrono::steady_clock;

double seconds_since(clock_type::time_point start) {
  return std::chrono::duration<double>(clock_type::now() - start).count();
}

// One line per parameter: what every rank's model must agree on.
std::vector<std::string> describe(const Module& model) {
  std::vector<std::string> lines;
  for (const NamedVar& p : model.named_parameters()) {
    lines.push_back(fmt::format("{} {} {}", p.name, shape_str(p.var.shape()), dtype_name(p.var.dtype())));
  }
  return lines;
}

std::string joined(const std::vector<std::string>& lines) {
  std::string text;
  for (const std::string& line : lines) text += line + "\n";
  return text;
}

// The first line where `theirs` differs from `ours`, said for an error message.
std::string first_difference(const std::string& ours, const std::string& theirs) {
  std::size_t start = 0;
  for (;;) {
    const std::size_t end_ours = ours.find('\n', start), end_theirs = theirs.find('\n', start);
    const std::string a = end_ours == std::string::npos ? "(nothing)" : ours.substr(start, end_ours - start);
    const std::string b = end_theirs == std::string::npos ? "(nothing)" : theirs.substr(start, end_theirs - start);
    if (a != b) return fmt::format("'{}' against '{}'", a, b);
    if (end_ours == std::string::npos) return "the same lines";
    start = end_ours + 1;
  }
}

template <class T>
void copy_into(const Tensor& from, Tensor& flat, std::size_t offset) {
  const T* src = from.array<T>().data();
  std::copy(src, src + from.size(), flat.array<T>().data() + offset);
}

template <class T>
void copy_from(const Tensor& flat, std::size_t offset, double scale, Tensor& to) {
  const T* src = flat.array<T>().data() + offset;
  T* dst = to.array<T>().data();
  const T s = static_cast<T>(scale);
  for (std::size_t i = 0; i < to.size(); ++i) dst[i] = scale == 1 ? src[i] : src[i] * s;
}

}  // namespace

DistributedDataParallel::DistributedDataParallel(Module& model, ProcessGroup& group, DistributedOptions options)
    : group_(group), options_(options), params_(model.parameters()) {
  if (options_.bucket_bytes == 0 || options_.first_bucket_bytes == 0) {
    throw Error("DistributedDataParallel: bucket_bytes and first_bucket_bytes must be at least 1");
  }
  const std::string ours = joined(describe(model));
  const std::vector<std::string> all = group_.allgather(ours);
  for (std::size_t r = 1; r < all.size(); ++r) {
    if (all[r] == all[0]) continue;
    throw Error(fmt::format(
        "DistributedDataParallel: the model of rank {} differs from rank 0's (every rank must build the same model): "
        "rank 0 has {}",
        r, first_difference(all[0], all[r])));
  }
  for (Var& p : params_) group_.broadcast(p.mutable_value(), 0);

  for (std::size_t i = 0; i < params_.size(); ++i) index_.emplace_back(params_[i].node(), i);
  std::sort(index_.begin(), index_.end());
  // Buckets in the reverse of registration order, each of one dtype.
  bucket_of_.assign(params_.size(), 0);
  std::size_t filled = 0;
  for (std::size_t k = params_.size(); k-- > 0;) {
    const Var& p = params_[k];
    const std::size_t bytes = p.value().nbytes();
    const std::size_t cap = buckets_.size() == 1 ? options_.first_bucket_bytes : options_.bucket_bytes;
    const bool fits =
        !buckets_.empty() && filled + bytes <= cap && params_[buckets_.back().params.front()].dtype() == p.dtype();
    if (!fits) {
      buckets_.emplace_back();
      filled = 0;
    }
    Bucket& b = buckets_.back();
    b.offsets.push_back(b.params.empty() ? 0 : b.offsets.back() + params_[b.params.back()].size());
    b.params.push_back(k);
    bucket_of_[k] = buckets_.size() - 1;
    filled += bytes;
  }
  for (Bucket& b : buckets_) {
    const Var& last = params_[b.params.back()];
    b.flat = Tensor::zeros(Shape{b.offsets.back() + last.size()}, last.dtype());
  }
  told_.assign(params_.size(), 0);
  copied_.assign(params_.size(), 0);
  used_.assign(params_.size(), 0);
}

DistributedDataParallel::~DistributedDataParallel() {
  // A step that failed halfway may leave requests that other ranks will never match:
  // waiting for them could hang, so their buffers are kept for good instead.
  for (Bucket& b : buckets_) {
    if (!b.pending.active()) continue;
    b.pending.abandon();
    static auto* kept = new std::vector<Tensor>();
    kept->push_back(std::move(b.flat));
  }
}

std::vector<std::vector<std::size_t>> DistributedDataParallel::bucket_layout() const {
  std::vector<std::vector<std::size_t>> layout;
  for (const Bucket& b : buckets_) layout.push_back(b.params);
  return layout;
}

void DistributedDataParallel::start_step() {
  if (step_started_) return;
  for (Bucket& b : buckets_) {
    if (b.pending.active()) b.pending.wait();  // only after a failed step
    b.waiting = b.params.size();
    b.sent = false;
  }
  std::fill(told_.begin(), told_.end(), 0);
  std::fill(copied_.begin(), copied_.end(), 0);
  std::fill(used_.begin(), used_.end(), 0);
  next_to_send_ = 0;
  stats_ = DistributedStepStats{};
  stats_.buckets = buckets_.size();
  listened_ = false;
  step_started_ = true;
}

void DistributedDataParallel::backward(const Var& loss, const Tensor& seed) {
  if (!syncing_) {
    seed.defined() ? loss.backward(seed) : loss.backward();
    return;
  }
  start_step();
  listened_ = true;
  {
    ListenGradientReady listen(*this);
    seed.defined() ? loss.backward(seed) : loss.backward();
  }
  stats_.sent_during_backward = next_to_send_;
}

void DistributedDataParallel::gradient_ready(const Var& leaf, Tensor& grad) {
  auto it = std::lower_bound(index_.begin(), index_.end(), leaf.node(),
                             [](const std::pair<const Node*, std::size_t>& e, const Node* n) { return e.first < n; });
  if (it == index_.end() || it->first != leaf.node()) return;  // not one of the model's parameters
  const std::size_t i = it->second;
  Bucket& b = buckets_[bucket_of_[i]];
  if (b.sent) {
    throw Error(fmt::format(
        "DistributedDataParallel: the gradient of '{}' changed after its bucket was sent; run one backward() per "
        "synchronize(), and the others under no_sync()",
        params_[i].name()));
  }
  told_[i] = 1;
  if (!options_.overlap) return;
  copy_in(i, grad.defined() ? &grad : nullptr);
  const auto start = clock_type::now();
  send_ready_buckets();
  // MPI advances requests in flight only inside its calls: test them as the backward goes.
  for (std::size_t k = 0; k < next_to_send_; ++k) buckets_[k].pending.test();
  stats_.mpi_seconds_during_backward += seconds_since(start);
}

void DistributedDataParallel::copy_in(std::size_t param, const Tensor* grad) {
  Bucket& b = buckets_[bucket_of_[param]];
  const std::size_t slot =
      static_cast<std::size_t>(std::find(b.params.begin(), b.params.end(), param) - b.params.begin());
  const std::size_t offset = b.offsets[slot];
  const Var& p = params_[param];
  if (grad != nullptr) {
    if (grad->shape() != p.shape() || grad->dtype() != p.dtype()) {
      throw Error(fmt::format("DistributedDataParallel: the gradient of '{}' is {} {}, the parameter {} {}", p.name(),
                              shape_str(grad->shape()), dtype_name(grad->dtype()), shape_str(p.shape()),
                              dtype_name(p.dtype())));
    }
    if (p.dtype() == DType::f32) {
      copy_into<float>(*grad, b.flat, offset);
    } else {
      copy_into<double>(*grad, b.flat, offset);
    }
  } else {
    if (p.dtype() == DType::f32) {
      std::fill_n(b.flat.array<float>().data() + offset, p.size(), 0.0f);
    } else {
      std::fill_n(b.flat.array<double>().data() + offset, p.size(), 0.0);
    }
  }
  used_[param] = grad != nullptr ? 1 : 0;
  if (!copied_[param]) {
    copied_[param] = 1;
    --b.waiting;
  }
}

void DistributedDataParallel::send_ready_buckets() {
  while (next_to_send_ < buckets_.size() && buckets_[next_to_send_].waiting == 0) {
    Bucket& b = buckets_[next_to_send_];
    if (next_to_send_ == 0) {
      stats_.complete_when_first_sent = static_cast<std::size_t>(std::count(told_.begin(), told_.end(), 1));
    }
    b.pending = group_.start_allreduce_sum(b.flat);
    b.sent = true;
    stats_.bytes += b.flat.nbytes();
    ++next_to_send_;
  }
}

void DistributedDataParallel::synchronize() {
  if (!syncing_) return;
  start_step();
  if (listened_ && !options_.find_unused_parameters) {
    std::string unreached;
    for (std::size_t i = 0; i < params_.size(); ++i) {
      if (!told_[i]) unreached += (unreached.empty() ? "'" : ", '") + params_[i].name() + "'";
    }
    if (!unreached.empty()) {
      step_started_ = false;
      throw Error(fmt::format(
          "DistributedDataParallel: this step's backward did not reach {}; pass find_unused_parameters = true when "
          "some parameters may go unused",
          unreached));
    }
  }
  for (std::size_t i = 0; i < params_.size(); ++i) {
    if (copied_[i]) continue;
    Tensor& grad = params_[i].grad();
    copy_in(i, grad.defined() ? &grad : nullptr);
  }
  auto start = clock_type::now();
  send_ready_buckets();
  if (options_.find_unused_parameters) group_.allreduce_sum(std::span<std::int64_t>(used_));
  for (Bucket& b : buckets_) b.pending.wait();
  stats_.wait_seconds = seconds_since(start);
  copy_out();
  step_started_ = false;
}

void DistributedDataParallel::copy_out() {
  const double scale = options_.average ? 1.0 / group_.size() : 1.0;
  for (const Bucket& b : buckets_) {
    for (std::size_t slot = 0; slot < b.params.size(); ++slot) {
      Var& p = params_[b.params[slot]];
      Tensor& grad = p.grad();
      if (options_.find_unused_parameters && used_[b.params[slot]] == 0) {
        grad.reset();  // no rank used it: the optimizer skips it
        continue;
      }
      if (!grad.defined() || grad.shape() != p.shape() || grad.dtype() != p.dtype()) {
        grad = Tensor::empty(p.shape(), p.dtype());
      }
      if (p.dtype() == DType::f32) {
        copy_from<float>(b.flat, b.offsets[slot], scale, grad);
      } else {
        copy_from<double>(b.flat, b.offsets[slot], scale, grad);
      }
    }
  }
}

}  // namespace tg
