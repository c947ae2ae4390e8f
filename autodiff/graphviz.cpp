#include "tapegrad/autodiff/graphviz.hpp"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include <fmt/format.h>

#include "tapegrad/autodiff/scope.hpp"
#include "tapegrad/base/error.hpp"
#include "tapegrad/base/utf8.hpp"

namespace tg {
namespace {

// ---------------------------------------------------------------------------
// The graph to draw: entries merged into op nodes, leaves, deduplicated edges.

enum class LeafKind { parameter, input, constant };

struct OpNode {
  std::uint32_t entry;      // the first entry merged here: its op, shape and scope label the node
  std::uint32_t count = 1;  // entries merged here (1 unless repeated scopes are collapsed)
  bool shape_varies = false;
  bool consumed = false;  // some entry reads its value; the others are results
};

struct LeafNode {
  const Node* node;
  LeafKind kind;
  std::uint32_t count = 1;
  bool shape_varies = false;
  bool value_varies = false;
};

struct Edge {
  bool from_leaf;
  std::uint32_t from;
  std::uint32_t to;  // an op node
};

struct Graph {
  std::vector<OpNode> ops;
  std::vector<LeafNode> leaves;
  std::vector<Edge> edges;
  /// Instances of each scope on the tape (for cluster labels when collapsing).
  std::unordered_map<std::uint32_t, std::uint32_t> scope_instances;
};

std::uint64_t pair_key(std::uint32_t a, std::uint32_t b) { return (std::uint64_t{a} << 32) | b; }

// Where repeats are merged: the position-th entry of some instance of `scope`, running `op`.
struct MergeKey {
  std::uint32_t scope;
  std::uint32_t position;
  std::string_view op;
  bool operator==(const MergeKey&) const = default;
};
struct MergeKeyHash {
  std::size_t operator()(const MergeKey& k) const {
    return std::hash<std::uint64_t>()(pair_key(k.scope, k.position)) ^ (std::hash<std::string_view>()(k.op) << 1);
  }
};

// Named leaves are parameters; one-element values that need no gradient are
// constants (the 2 of x * 2.0); everything else is data coming in.
LeafKind leaf_kind(const Node& node) {
  if (!node.name.empty()) return LeafKind::parameter;
  return node.value.size() == 1 && !node.requires_grad ? LeafKind::constant : LeafKind::input;
}

bool same_layout(const Tensor& a, const Tensor& b) { return a.dtype() == b.dtype() && a.shape() == b.shape(); }

// The entry of `tape` that produced `node`, or -1 for a leaf of this tape
// (a user's value, a constant, or a value of an earlier generation).
std::int64_t producer(const Tape& tape, const Node& node) {
  if (node.tape != &tape || node.entry >= tape.size()) return -1;
  return tape.entry(node.entry).output.get() == &node ? std::int64_t{node.entry} : -1;
}

// Leaf nodes by identity. When collapsing, leaves other than parameters (an
// input made in each step) also merge by the op node and input slot that
// first reads them, if they are of one kind.
struct LeafIndex {
  bool collapse;
  std::unordered_map<const Node*, std::uint32_t> by_node;
  std::unordered_map<std::uint64_t, std::uint32_t> by_slot;

  std::uint32_t index(Graph& g, const Node& leaf, std::uint32_t op, std::uint32_t slot) {
    if (auto found = by_node.find(&leaf); found != by_node.end()) return found->second;
    const LeafKind kind = leaf_kind(leaf);
    auto next = static_cast<std::uint32_t>(g.leaves.size());
    std::uint32_t index = next;
    if (collapse && kind != LeafKind::parameter) index = by_slot.try_emplace(pair_key(op, slot), next).first->second;
    if (index != next && g.leaves[index].kind != kind) index = next;
    if (index == next) {
      g.leaves.push_back({&leaf, kind});
    } else {
      LeafNode& merged = g.leaves[index];
      ++merged.count;
      const Tensor& a = merged.node->value;
      if (!same_layout(a, leaf.value)) merged.shape_varies = true;
      if (kind == LeafKind::constant && a.item() != leaf.value.item()) merged.value_varies = true;
    }
    by_node.emplace(&leaf, index);
    return index;
  }
};

// One pass over the tape in order: no recursion, so any length of unrolled loop is fine.
Graph build_graph(const Tape& tape, const DotOptions& options) {
  Graph g;
  const std::size_t n = tape.size();
  std::vector<std::uint32_t> op_of(n);
  std::unordered_map<std::uint64_t, std::uint32_t> next_position;  // (scope, instance) -> entries seen
  std::unordered_map<MergeKey, std::uint32_t, MergeKeyHash> op_by_key;
  for (std::size_t i = 0; i < n; ++i) {
    const TapeEntry& e = tape.entry(i);
    std::uint32_t& instances = g.scope_instances[e.scope];
    instances = std::max(instances, e.scope_instance + 1);
    if (!options.collapse_repeated_scopes) {
      op_of[i] = static_cast<std::uint32_t>(g.ops.size());
      g.ops.push_back({static_cast<std::uint32_t>(i)});
      continue;
    }
    std::uint32_t position = next_position[pair_key(e.scope, e.scope_instance)]++;
    auto [it, inserted] = op_by_key.try_emplace(MergeKey{e.scope, position, e.op}, g.ops.size());
    if (inserted) {
      g.ops.push_back({static_cast<std::uint32_t>(i)});
    } else {
      OpNode& merged = g.ops[it->second];
      ++merged.count;
      if (!same_layout(tape.entry(merged.entry).output->value, e.output->value)) merged.shape_varies = true;
    }
    op_of[i] = it->second;
  }

  LeafIndex leaves{options.collapse_repeated_scopes, {}, {}};
  std::unordered_set<std::uint64_t> seen_edges;
  for (std::size_t i = 0; i < n; ++i) {
    const TapeEntry& e = tape.entry(i);
    std::span<const Var> inputs = tape.inputs_of(e);
    for (std::size_t slot = 0; slot < inputs.size(); ++slot) {
      const Node& in = *inputs[slot].node();
      Edge edge{false, 0, op_of[i]};
      if (std::int64_t p = producer(tape, in); p >= 0) {
        edge.from = op_of[static_cast<std::size_t>(p)];
        g.ops[edge.from].consumed = true;
      } else if (!options.show_leaves) {
        continue;
      } else {
        edge.from_leaf = true;
        edge.from = leaves.index(g, in, op_of[i], static_cast<std::uint32_t>(slot));
      }
      std::uint32_t from_code = edge.from * 2 + (edge.from_leaf ? 1 : 0);
      if (seen_edges.insert(pair_key(from_code, edge.to)).second) g.edges.push_back(edge);
    }
  }
  return g;
}

// ---------------------------------------------------------------------------
// DOT text.

// Appends `text` as the inside of a DOT quoted string that Graphviz shows
// verbatim: quotes and backslashes escaped (a backslash starts \n, \N, \G, ...),
// control characters as spaces, '&' as an entity (Graphviz decodes entities
// in labels), and bytes that are not UTF-8 as U+FFFD.
void append_escaped(std::string& out, std::string_view text) {
  std::size_t i = 0;
  while (i < text.size()) {
    auto c = static_cast<unsigned char>(text[i]);
    if (c < 0x80) {
      switch (c) {
        case '"':
          out += "\\\"";
          break;
        case '\\':
          out += "\\\\";
          break;
        case '&':
          out += "&amp;";
          break;
        case '\n':
          out += "\\n";
          break;
        default:
          out += c < 0x20 || c == 0x7f ? ' ' : static_cast<char>(c);
      }
      ++i;
      continue;
    }
    const std::size_t len = utf8_char_length(text, i);
    if (len > 0) {
      out.append(text.substr(i, len));
      i += len;
    } else {
      out += "\xef\xbf\xbd";
      ++i;
    }
  }
}

std::string dot_string(std::string_view text) {
  std::string out = "\"";
  append_escaped(out, text);
  out += '"';
  return out;
}

std::string times(std::uint32_t count) { return count > 1 ? fmt::format(" \u00d7{}", count) : std::string(); }

std::string layout_line(const Tensor& value, bool varies) {
  return varies ? std::string("shape varies")
                : fmt::format("{} {}", shape_str(value.shape()), dtype_name(value.dtype()));
}

// "mul ×30\n[32, 128] float32" as one DOT node statement (Marian-style: the shape tells the kind).
std::string op_statement(const Tape& tape, std::uint32_t index, const OpNode& op) {
  const TapeEntry& e = tape.entry(op.entry);
  std::string label =
      dot_string(fmt::format("{}{}\n{}", e.op, times(op.count), layout_line(e.output->value, op.shape_varies)));
  return fmt::format("e{} [label={}{}];\n", index, label, op.consumed ? "" : ", peripheries=2");
}

std::string leaf_statement(std::uint32_t index, const LeafNode& leaf) {
  const Tensor& value = leaf.node->value;
  std::string title;
  const char* style = "";
  switch (leaf.kind) {
    case LeafKind::parameter:
      title = leaf.node->name;
      style = "shape=box, style=filled, fillcolor=\"#fde3bd\"";
      break;
    case LeafKind::input:
      title = "input";
      style = "shape=parallelogram, style=filled, fillcolor=\"#d5e5f6\"";
      break;
    case LeafKind::constant:
      title = leaf.value_varies ? std::string("constant") : fmt::format("constant {:g}", value.item());
      style = "shape=note, style=filled, fillcolor=\"#ececec\", fontsize=9";
      break;
  }
  std::string label = dot_string(title + times(leaf.count) + "\n" + layout_line(value, leaf.shape_varies));
  return fmt::format("l{} [label={}, {}];\n", index, label, style);
}

struct Cluster {
  std::uint32_t scope;
  std::string body;  // node statements of the values made directly in this scope
  std::vector<std::uint32_t> children;
};

std::string indent(std::size_t depth) { return std::string(2 * depth, ' '); }

// Appends newline-terminated statements, each indented.
void append_indented(std::string& out, std::string_view body, std::size_t depth) {
  for (std::size_t pos = 0; pos < body.size();) {
    std::size_t end = body.find('\n', pos) + 1;
    out += indent(depth);
    out.append(body.substr(pos, end - pos));
    pos = end;
  }
}

std::string scope_label(std::uint32_t scope, const Graph& g, bool collapsed) {
  std::string path = scope_name(scope);
  std::string label = path.substr(path.rfind('/') + 1);
  auto it = g.scope_instances.find(scope);
  if (collapsed && it != g.scope_instances.end()) label += times(it->second);
  return label;
}

}  // namespace

std::string to_dot(const Tape& tape, const DotOptions& options) {
  const Graph g = build_graph(tape, options);

  // Clusters in order of first use, each knowing its children; index 0 is the root.
  std::vector<Cluster> clusters{{0, {}, {}}};
  std::unordered_map<std::uint32_t, std::uint32_t> cluster_of{{0, 0}};
  auto cluster = [&](std::uint32_t scope) -> Cluster& {
    // Walk up to the first known ancestor, then create the missing ones top-down.
    std::vector<std::uint32_t> missing;
    std::uint32_t s = scope;
    while (!cluster_of.count(s)) {
      missing.push_back(s);
      s = parent_scope(s);
    }
    for (auto it = missing.rbegin(); it != missing.rend(); ++it) {
      auto index = static_cast<std::uint32_t>(clusters.size());
      clusters[cluster_of[s]].children.push_back(index);
      clusters.push_back({*it, {}, {}});
      cluster_of.emplace(*it, index);
      s = *it;
    }
    return clusters[cluster_of[scope]];
  };
  for (std::size_t i = 0; i < g.ops.size(); ++i) {
    cluster(tape.entry(g.ops[i].entry).scope).body += op_statement(tape, static_cast<std::uint32_t>(i), g.ops[i]);
  }
  for (std::size_t i = 0; i < g.leaves.size(); ++i) {
    cluster(g.leaves[i].node->scope).body += leaf_statement(static_cast<std::uint32_t>(i), g.leaves[i]);
  }

  std::string out = fmt::format("digraph {} {{\n", dot_string(options.graph_name));
  out += "  node [shape=ellipse, fontname=\"Helvetica\", fontsize=10];\n";
  out += "  edge [arrowsize=0.7];\n";
  append_indented(out, clusters[0].body, 1);
  // Nested clusters with an explicit stack of (cluster, next child to open).
  std::vector<std::pair<std::uint32_t, std::size_t>> stack{{0, 0}};
  std::size_t next_cluster_name = 1;
  while (!stack.empty()) {
    auto& [index, next_child] = stack.back();
    const Cluster& parent = clusters[index];
    if (next_child == parent.children.size()) {
      stack.pop_back();
      if (!stack.empty()) out += indent(stack.size()) + "}\n";
      continue;
    }
    const std::uint32_t child = parent.children[next_child++];
    const Cluster& c = clusters[child];
    const std::size_t depth = stack.size();
    out += indent(depth) + fmt::format("subgraph cluster_{} {{\n", next_cluster_name++);
    out += indent(depth + 1) + fmt::format("label={}; tooltip={};\n",
                                           dot_string(scope_label(c.scope, g, options.collapse_repeated_scopes)),
                                           dot_string(scope_name(c.scope)));
    out += indent(depth + 1) + "style=rounded; color=\"#9a9a9a\"; fontname=\"Helvetica\"; fontsize=11;\n";
    append_indented(out, c.body, depth + 1);
    stack.emplace_back(child, 0);
  }
  for (const Edge& e : g.edges) {
    out += fmt::format("  {}{} -> e{}", e.from_leaf ? 'l' : 'e', e.from, e.to);
    // Merged repeats feed earlier nodes (step t's output is step t+1's
    // input): draw that recurrence dashed and keep it out of the ranking.
    if (!e.from_leaf && e.from >= e.to) out += " [style=dashed, constraint=false]";
    out += ";\n";
  }
  out += "}\n";
  return out;
}

}  // namespace tg
