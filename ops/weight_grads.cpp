#include "tapegrad/ops/weight_grads.hpp"

#include <algorithm>
#include <atomic>
#include <vector>

#include <fmt/format.h>

#include "tapegrad/autodiff/mode.hpp"
#include "tapegrad/base/error.hpp"
#include "tapegrad/kernels/blas.hpp"

namespace tg {
namespace {

// Above this many rows a product's dW runs well on its own (and keeping its dY costs more).
constexpr std::size_t kMaxRows = 128;
// Below this many elements (1 MB of floats) dW stays in L2 from one step's product to the
// next, and gathering measured no gain (a small step's weights) or a loss of a few percent.
constexpr std::size_t kMinWeightSize = 256 * 1024;

// What the kept dY and x of the uses may hold before they are added into the gradients
// early, in products of their own: keeping a whole pass's cost a medium step 53-70 MB of
// peak memory, and 2 MB (two steps of a medium LSTM's two weights) keeps the gain
// (docs/performance.md, "Data parallelism over threads").
constexpr std::size_t kMaxKeptBytes = 2u << 20;

std::atomic<WeightGradBatching> batching{WeightGradBatching::automatic};

// One use of a weight: its op's output gradient and the x it multiplied.
struct Use {
  std::shared_ptr<const Tensor> dy;  // [rows, out]
  Var x;                             // [rows, in]
  std::size_t rows = 0;
};

struct Pending {
  std::shared_ptr<Node> weight;
  const char* op = "";
  std::size_t out = 0, in = 0, rows = 0;  // rows: summed over the uses
  std::vector<Use> uses;
};

// The rows of each use's tensor, one block after another: [sum of rows, cols].
template <class T>
Array<T> stack_rows(const std::vector<Use>& uses, std::size_t rows, std::size_t cols, bool from_dy) {
  Array<T> stacked = Array<T>::from_shape({rows, cols});
  T* to = stacked.data();
  for (const Use& u : uses) {
    const T* from = from_dy ? u.dy->array<T>().data() : u.x.value().array<T>().data();
    to = std::copy(from, from + u.rows * cols, to);
  }
  return stacked;
}

bool same_dys(const std::vector<Use>& a, const std::vector<Use>& b) {
  return a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(), [](const Use& u, const Use& v) { return u.dy == v.dy; });
}

class WeightGradBatch final : public PassEnd {
 public:
  void add(const char* op, const Var& w, const Var& x, std::size_t rows, std::size_t out, std::size_t in,
           const std::shared_ptr<const Tensor>& dy) {
    auto it =
        std::find_if(pending_.begin(), pending_.end(), [&](const Pending& p) { return p.weight == w.node_ptr(); });
    if (it == pending_.end()) {
      it = pending_.insert(pending_.end(), Pending{w.node_ptr(), op, out, in, 0, {}});
    }
    it->rows += rows;
    it->uses.push_back(Use{dy, x, rows});
    kept_bytes_ += rows * (out + in) * (w.dtype() == DType::f32 ? sizeof(float) : sizeof(double));
    // Adding early changes only the order of the gradient's sums: nothing reads a leaf's
    // gradient before the pass ends (a GradientReadyListener waits for it: adds_to).
    if (kept_bytes_ > kMaxKeptBytes) finish();
  }

  bool adds_to(const Node& leaf) const override {
    return std::any_of(pending_.begin(), pending_.end(), [&](const Pending& p) { return p.weight.get() == &leaf; });
  }

  // Adds every pending weight's gathered product into its gradient, and forgets them.
  void finish() override {
    for (std::size_t i = 0; i < pending_.size(); ++i) {
      const Pending& p = pending_[i];
      // linear_pair's two weights share their dY: stack it once for both.
      const Pending* shares = i > 0 && same_dys(pending_[i - 1].uses, p.uses) ? &pending_[i - 1] : nullptr;
      dispatch(p.weight->value.dtype(), [&](auto zero) {
        using T = decltype(zero);
        add_into_grad<T>(p, shares != nullptr);
      });
    }
    pending_.clear();
    stacked_dy_.reset();
    kept_bytes_ = 0;
  }

 private:
  template <class T>
  void add_into_grad(const Pending& p, bool reuse_stacked_dy) {
    Node& w = *p.weight;
    const T* dy = p.uses[0].dy->array<T>().data();
    const T* x = p.uses[0].x.value().array<T>().data();
    Array<T> stacked_x;
    if (p.uses.size() > 1) {
      if (!reuse_stacked_dy) stacked_dy_ = Tensor(stack_rows<T>(p.uses, p.rows, p.out, true));
      stacked_x = stack_rows<T>(p.uses, p.rows, p.in, false);
      dy = stacked_dy_.array<T>().data();
      x = stacked_x.data();
    }
    Tensor& grad = gradient_slot(w);
    const bool fits = grad.defined() && grad.dtype() == w.value.dtype() && grad.shape() == w.value.shape();
    if (grad.defined() && !fits) {  // only the tape sets gradients during a pass, always of the value's shape
      throw BackwardError(
          fmt::format("backward of op '{}': the gradient of its weight {} changed to {} {} during "
                      "the pass",
                      p.op, shape_str(w.value.shape()), shape_str(grad.shape()), dtype_name(grad.dtype())));
    }
    if (fits) {
      gemm(true, false, p.out, p.in, p.rows, dy, x, true, grad.array<T>().data());
    } else {
      Array<T> dw = Array<T>::from_shape({p.out, p.in});
      gemm(true, false, p.out, p.in, p.rows, dy, x, false, dw.data());
      grad = Tensor(std::move(dw));
    }
    if (is_anomaly_enabled() && !all_finite(grad)) {
      throw AnomalyError(
          fmt::format("anomaly: backward of op '{}' produced NaN or inf in the gradient of its weight "
                      "{} (gathered over {} uses)",
                      p.op, shape_str(w.value.shape()), p.uses.size()));
    }
  }

  std::vector<Pending> pending_;
  Tensor stacked_dy_;
  std::size_t kept_bytes_ = 0;
};

}  // namespace

void set_weight_grad_batching(WeightGradBatching policy) { batching.store(policy, std::memory_order_relaxed); }

WeightGradBatching weight_grad_batching() { return batching.load(std::memory_order_relaxed); }

bool would_defer_weight_grad(const BackwardContext& c, std::size_t iw, std::size_t rows) {
  const WeightGradBatching policy = weight_grad_batching();
  if (policy == WeightGradBatching::never || rows == 0 || !c.needs_grad(iw)) return false;
  const Var& w = c.input_var(iw);
  if (!w.is_leaf()) return false;
  if (policy == WeightGradBatching::automatic && (rows > kMaxRows || w.value().size() < kMinWeightSize)) return false;
  Node& n = *w.node();
  const Tensor& grad = gradient_slot(n);
  // A gradient set by hand to another shape or dtype goes the tape's checked way.
  return !grad.defined() || (grad.dtype() == n.value.dtype() && grad.shape() == n.value.shape());
}

bool defer_weight_grad(BackwardContext& c, const char* op, std::size_t iw, std::size_t ix, std::size_t rows,
                       std::size_t out, std::size_t in, const std::shared_ptr<const Tensor>& dy) {
  if (!would_defer_weight_grad(c, iw, rows)) return false;
  c.at_pass_end<WeightGradBatch>().add(op, c.input_var(iw), c.input_var(ix), rows, out, in, dy);
  return true;
}

}  // namespace tg
