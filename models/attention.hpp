#pragma once
/// Attention: five kinds behind one call shape.
///
///   query [B, Hq], keys [B, S, Hk], values [B, S, Hv], padding [B, S]
///   -> context [B, C], weights [B, S] (each row sums to 1 over real positions)
///
/// `padding` follows PyTorch's key_padding_mask: true marks a padded position,
/// which gets weight exactly 0 (and no gradient). An empty mask means no padding.
/// A row whose positions are all padded gets weights all 0 and a zero context
/// (for multi_head the context is then out_proj.bias), with finite gradients;
/// PyTorch gives NaN there.
/// Keys and values that do not depend on the query are projected once per
/// batch by prepare(); attend() then runs once per decoder step.
///
/// Kinds (e the score of position i, k_i its key, q the query):
///   additive     e_i = v . tanh(W_q q + b_q + W_k k_i)     (Bahdanau)
///   dot          e_i = q . k_i                             (Luong; Hq = Hk)
///   general      e_i = q . (W k_i)                         (Luong)
///   scaled_dot   e_i = q . k_i / sqrt(Hk)                  (Hq = Hk)
/// then weights = softmax(e) over the real positions and context = sum_i weights_i v_i;
///   multi_head   torch.nn.MultiheadAttention with one query step: parameters
///                in_proj_weight, in_proj_bias, out_proj.weight, out_proj.bias
///                (q_proj_weight, k_proj_weight, v_proj_weight when the key or
///                value size differs from the query's); weights averaged over heads.
///
/// One class per file: AdditiveAttention (additive_attention.hpp), DotAttention
/// (dot and scaled_dot, dot_attention.hpp), GeneralAttention
/// (general_attention.hpp), MultiHeadAttention (multi_head_attention.hpp).
/// docs/attention.md gives each kind's parameters and cost per step.

#include <cstddef>
#include <initializer_list>
#include <memory>
#include <string>
#include <utility>

#include "tapegrad/models/linear.hpp"
#include "tapegrad/models/module.hpp"

namespace tg {

enum class AttentionKind { additive, dot, general, scaled_dot, multi_head };
/// "additive", "dot", "general", "scaled_dot", "multi_head".
const char* attention_kind_name(AttentionKind kind);
/// The kind named as above; throws Error listing the names for anything else.
AttentionKind parse_attention_kind(const std::string& name);

struct AttentionOptions {
  AttentionKind kind = AttentionKind::additive;  ///< which score (make_attention picks the class)
  std::size_t query_size = 0;                    ///< Hq
  std::size_t key_size = 0;                      ///< Hk
  std::size_t value_size = 0;                    ///< Hv (0: same as key_size)
  std::size_t attention_size = 0;                ///< additive: size of the tanh layer (0: key_size)
  std::size_t num_heads = 1;                     ///< multi_head: heads; query_size divisible by it
  bool bias = true;                              ///< multi_head: in_proj_bias and out_proj.bias
  double dropout = 0.0;                          ///< multi_head: dropout on the weights while training, in [0, 1]
  DType dtype = DType::f32;                      ///< dtype of the parameters
};

/// Keys and values prepared once per batch.
struct AttentionMemory {
  Var keys;      ///< [B, S, *] projected as the kind needs ([B * heads, S, E / heads] for multi_head)
  Var values;    ///< [B, S, *] projected as the kind needs ([B * heads, S, E / heads] for multi_head)
  Mask padding;  ///< [B, S], true = padded; empty = none
  /// `padding` laid out as the kind's scores ([B * heads, 1, S] for multi_head, else [B, S]); empty = none.
  Mask score_padding;
  /// multi_head: the query's projection W_q [E, E] and b_q [E], sliced from
  /// in_proj_weight and in_proj_bias once per batch rather than once per step.
  Var query_weight;
  Var query_bias;
  std::size_t batch = 0;  ///< B
};

struct AttentionResult {
  Var context;  ///< [B, context_size()]; [B, L, E] from MultiHeadAttention's sequence calls
  /// [B, S]; from MultiHeadAttention's sequence calls [B, L, S] (averaged over heads),
  /// [B, heads, L, S] (per head) or undefined (need_weights = false)
  Var weights;
};

/// torch's attn_mask: which query position may attend which key position,
/// [L, S] (the same for every batch entry and head) or [B * heads, L, S] (row
/// b * heads + j for head j of batch entry b, torch's layout). Either boolean,
/// true = not allowed (as torch), or an additive float mask whose -inf entries
/// block and whose other entries are added to the scores (a constant: no
/// gradient flows into it). Empty (the default): no mask.
struct AttentionMask {
  AttentionMask() = default;
  AttentionMask(Mask blocked_positions)
      : blocked(std::move(blocked_positions)) {}  // NOLINT: implicit, as torch's one argument
  AttentionMask(Tensor additive_values)
      : additive(std::move(additive_values)) {}  // NOLINT: implicit, as torch's one argument
  /// True when neither form is set.
  bool empty() const;

  Mask blocked;     ///< the boolean form; empty when unused
  Tensor additive;  ///< the float form (float32 or float64, converted to the scores' dtype); undefined when unused
};

class Attention : public Module {
 public:
  /// Projects keys and values (as the kind needs) and checks their shapes and the mask's.
  virtual AttentionMemory prepare(const Var& keys, const Var& values, const Mask& padding = {}) const = 0;
  /// One query step against prepared memory. query: [B, Hq].
  virtual AttentionResult attend(const AttentionMemory& memory, const Var& query) const = 0;
  /// prepare() then attend(), for a single step.
  AttentionResult forward(const Var& query, const Var& keys, const Var& values, const Mask& padding = {}) const {
    return attend(prepare(keys, values, padding), query);
  }
  /// C: Hv, or query_size for multi_head.
  virtual std::size_t context_size() const = 0;
  const AttentionOptions& options() const { return options_; }
  /// Hv: options().value_size, or key_size when that is 0.
  std::size_t value_size() const { return options_.value_size != 0 ? options_.value_size : options_.key_size; }

 protected:
  /// Checks the sizes every kind needs (query_size and key_size > 0).
  explicit Attention(const AttentionOptions& options);
  /// "tg::AdditiveAttention (additive)": how error messages name this module.
  std::string label() const;
  /// Throws Error unless options().kind is one of `kinds` (a class may serve several).
  void require_kind(std::initializer_list<AttentionKind> kinds) const;
  /// Throws ShapeError/DTypeError unless keys [B, S, Hk], values [B, S, Hv]
  /// and padding (empty or [B, S]) fit each other, the options and the parameters.
  void check_memory_inputs(const Var& keys, const Var& values, const Mask& padding) const;
  /// Throws unless memory came from prepare() and query is [memory.batch, Hq] of its dtype.
  void check_query(const AttentionMemory& memory, const Var& query) const;
  /// The end of every single-head kind: scores [B, S] -> weights = softmax
  /// with padded positions at -inf, context = weights @ memory.values [B, Hv].
  static AttentionResult weigh_values(const Var& scores, const AttentionMemory& memory);

  AttentionOptions options_;
};

/// True for the mask that means "no padding": Mask{} (rank 0, as a default
/// xtensor array is) or a mask with no elements.
bool is_empty_mask(const Mask& padding);

/// True when the mask hides no position: empty, or all false. Attention then
/// skips the masking op (a batch of full-length sources is the common case).
bool masks_nothing(const Mask& padding);

/// An attention module of options.kind.
std::unique_ptr<Attention> make_attention(const AttentionOptions& options, Generator& gen = default_generator());

/// copy_as() through the base class, for an attention module held as
/// Attention (the template needs the concrete type): a module of the same
/// kind and options with the same parameter values, converted to `dtype`.
std::unique_ptr<Attention> copy_as(const Attention& m, DType dtype);

}  // namespace tg
