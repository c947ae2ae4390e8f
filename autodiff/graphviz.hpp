#pragma once
/// Graphviz export of a recorded tape: DOT text, or SVG and PNG rendered in
/// process by Graphviz's C library (no `dot` executable is run).
///
/// One node per tape entry (an ellipse: op name, output shape and dtype), one
/// node per leaf the entries read (parameters as boxes with their name,
/// other leaves as inputs or constants), one edge per (value, consuming op)
/// pair, and one nested cluster per name scope. See docs/graphviz.md.

#include <string>

#include "tape.hpp"

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

enum class GraphFormat { dot, svg, png };

/// The tape's graph in `format`: DOT text, an SVG document or PNG bytes.
/// Throws Error with Graphviz's message if Graphviz cannot lay out or render it
/// (a missing plugin, for instance).
std::string render_graph(const Tape& tape, GraphFormat format, const DotOptions& options = {});

/// Writes the graph to `path` in the format its extension names (.dot, .gv,
/// .svg, .png). The bytes go to a temporary file in the same directory that is
/// then renamed over `path`, so `path` is never left half-written. Throws Error
/// naming the path for an unknown extension or a file that cannot be written.
void write_graph(const Tape& tape, const std::string& path, const DotOptions& options = {});

}  // namespace tg
