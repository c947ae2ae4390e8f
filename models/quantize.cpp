#include "tapegrad/models/quantize.hpp"

#include <unordered_set>

#include <fmt/format.h>

#include "tapegrad/models/embedding.hpp"
#include "tapegrad/models/learned_positional_encoding.hpp"

namespace tg {
namespace {

// The nodes of m's tables: Embedding weights and learned positions, wherever they sit.
void collect_tables(const Module& m, std::unordered_set<const Node*>& embeddings,
                    std::unordered_set<const Node*>& positions) {
  if (const auto* e = dynamic_cast<const Embedding*>(&m)) {
    for (const Var& p : e->parameters()) embeddings.insert(p.node());
  }
  if (const auto* l = dynamic_cast<const LearnedPositionalEncoding*>(&m)) {
    for (const Var& p : l->parameters()) positions.insert(p.node());
  }
  for (const auto& child : m.children()) collect_tables(*child.second, embeddings, positions);
}

}  // namespace

std::vector<NamedVar> quantizable_weights(const Module& m, bool embeddings) {
  std::unordered_set<const Node*> tables, positions;
  collect_tables(m, tables, positions);
  std::vector<NamedVar> out;
  for (NamedVar& p : m.named_parameters()) {
    if (p.var.dim() != 2 || p.var.dtype() != DType::f32 || positions.count(p.var.node()) != 0) continue;
    if (!embeddings && tables.count(p.var.node()) != 0) continue;
    out.push_back(std::move(p));
  }
  return out;
}

std::unique_ptr<QuantizedWeights> quantize_dynamic(Module& m, const QuantizeOptions& options) {
  std::unordered_set<const Node*> tables, positions;
  collect_tables(m, tables, positions);
  auto int8 = std::make_unique<QuantizedWeights>(options.activations);
  for (NamedVar& p : quantizable_weights(m, options.embeddings)) {
    const Shape& shape = p.var.shape();
    // Tables are quantized per row whatever the weights' choice: a row is one token's vector.
    const bool per_row = options.per_channel || tables.count(p.var.node()) != 0;
    Int8Matrix q;
    try {
      q = quantize_symmetric(p.var.value().array<float>().data(), shape[0], shape[1], per_row);
    } catch (const Error& e) {
      throw Error(fmt::format("quantize_dynamic: '{}': {}", p.name, e.what()));
    }
    dequantize(q, p.var.mutable_value().array<float>().data());
    int8->add(p.var, std::move(q));
  }
  return int8;
}

}  // namespace tg
