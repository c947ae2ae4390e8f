#pragma once
/// Attention: five kinds behind one call shape.
///
///   query [B, Hq], keys [B, S, Hk], values [B, S, Hv], padding [B, S]
///   -> context [B, C], weights [B, S] (each row sums to 1 over real positions)
///
/// `padding` follows PyTorch's key_padding_mask: true marks a padded position,
/// which gets weight exactly 0 (and no gradient). An empty mask means no padding.
/// Keys and values that do not depend on the query are projected once per
/// batch by prepare(); attend() then runs once per decoder step.
///
/// Kinds (e the score of position i, k_i its key, q the query):
///   additive     e_i = v . tanh(W_q q + b_q + W_k k_i)     (Bahdanau)
///   dot          e_i = q . k_i                             (Luong; Hq = Hk)
///   general      e_i = q . (W k_i)                         (Luong)
///   scaled_dot   e_i = q . k_i / sqrt(Hk)                  (Hq = Hk)
///   multi_head   torch.nn.MultiheadAttention with one query step: parameters
///                in_proj_weight, in_proj_bias, out_proj.weight, out_proj.bias
///                (q_proj_weight, k_proj_weight, v_proj_weight when the key or
///                value size differs from the query's); weights averaged over heads.

#include <cstddef>
#include <memory>

#include "linear.hpp"
#include "module.hpp"

namespace tg {

enum class AttentionKind { additive, dot, general, scaled_dot, multi_head };
/// "additive", "dot", "general", "scaled_dot", "multi_head".
const char* attention_kind_name(AttentionKind kind);
/// The kind named as above; throws Error listing the names for anything else.
AttentionKind parse_attention_kind(const std::string& name);

struct AttentionOptions {
  AttentionKind kind = AttentionKind::additive;
  std::size_t query_size = 0;      ///< Hq
  std::size_t key_size = 0;        ///< Hk
  std::size_t value_size = 0;      ///< Hv (0: same as key_size)
  std::size_t attention_size = 0;  ///< additive: size of the tanh layer (0: key_size)
  std::size_t num_heads = 1;       ///< multi_head: heads; query_size divisible by it
  bool bias = true;                ///< multi_head: in_proj_bias and out_proj.bias
  DType dtype = DType::f32;        ///< dtype of the parameters
};

/// Keys and values prepared once per batch.
struct AttentionMemory {
  Var keys;      ///< [B, S, *] projected as the kind needs
  Var values;    ///< [B, S, *] projected as the kind needs
  Mask padding;  ///< [B, S], true = padded; empty = none
};

struct AttentionResult {
  Var context;  ///< [B, context_size()]
  Var weights;  ///< [B, S]
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

 protected:
  explicit Attention(const AttentionOptions& options) : options_(options) {}
  AttentionOptions options_;
};

/// An attention module of options.kind.
std::unique_ptr<Attention> make_attention(const AttentionOptions& options, Generator& gen = default_generator());

}  // namespace tg
