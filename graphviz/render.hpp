#pragma once
/// A recorded tape drawn as SVG or PNG, rendered in process by Graphviz's C
/// library (no `dot` executable is run). A target of its own, tapegrad::graphviz,
/// so that the engine does not link libgvc; the DOT text is autodiff/graphviz.hpp.

#include <string>

#include "tapegrad/autodiff/graphviz.hpp"

namespace tg {

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
