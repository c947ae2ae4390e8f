#pragma once
/// Graphviz export of a recorded tape as DOT text. SVG and PNG are rendered by
/// graphviz/render.hpp (the tapegrad::graphviz target, which links libgvc).
///
/// One node per tape entry (an ellipse: op name, output shape and dtype), one
/// node per leaf the entries read (parameters as boxes with their name,
/// other leaves as inputs or constants), one edge per (value, consuming op)
/// pair, and one nested cluster per name scope. See docs/graphviz.md.

#include <string>

#include "tapegrad/autodiff/tape.hpp"

namespace tg {

struct DotOptions {
  /// Draw the repeats of a scope (the steps of an unrolled loop) once: the k-th
  /// op of every instance of a scope is merged into the k-th op of its first
  /// instance (when the op names agree), and its label says "×N".
  bool collapse_repeated_scopes = false;
  /// Draw the leaves (parameters, inputs, constants) the ops read.
  bool show_leaves = true;
  /// Name of the DOT graph.
  std::string graph_name = "tapegrad";
};

/// The tape's graph as DOT text. Deterministic: the same tape gives the same text.
std::string to_dot(const Tape& tape, const DotOptions& options = {});

}  // namespace tg
