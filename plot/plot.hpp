#pragma once
/// Training curves and attention heatmaps as PNG (or SVG) files, drawn with
/// PLplot's cairo drivers (pngcairo, svgcairo). A library of its own,
/// `tapegrad_plot`: the engine (`tapegrad`) does not depend on PLplot.
///
/// Every function writes through a temporary file in the target's directory
/// that is renamed over the target on success, so an existing file is never
/// left half-written. Every failure throws PlotError naming the file and what
/// was wrong: bad input (checked before PLplot is touched), a directory that
/// cannot be written, or an error PLplot reports (its handlers are replaced
/// while a plot is drawn: PLplot never calls exit()). PLplot keeps global
/// state, so plots are drawn one at a time, each on a fresh PLplot stream.
/// See docs/plots.md.

#include <filesystem>
#include <string>
#include <vector>

#include "tapegrad/base/error.hpp"

namespace tg {

/// A plot could not be drawn or written; the message names the file.
struct PlotError : Error {
  using Error::Error;
};

/// Size of the picture: pixels for PNG, points for SVG. Each side in [64, 8192].
struct PlotSize {
  int width = 1000;
  int height = 600;
};

/// One named series of (x, y) points, drawn in the order given.
struct Series {
  /// Its entry in the legend (may be empty: no legend entry).
  std::string name;
  std::vector<double> x;
  /// As many values as `x`. Points where x or y is not finite (or y <= 0 on a
  /// log axis) are skipped and break the line there.
  std::vector<double> y;
  /// Draw a marker at every point (for sparse series, such as one dev loss per epoch).
  bool markers = false;
  /// Join the points with a line.
  bool line = true;
};

struct PlotCurvesOptions {
  /// At least one; all share the axes (give them x in the same unit, such as steps).
  std::vector<Series> series;
  std::string title;
  std::string x_label = "step";
  std::string y_label;
  /// A logarithmic y axis.
  bool log_y = false;
  PlotSize size = {1000, 600};
};

/// Draws the series as lines on one pair of axes, with a legend, into `path`
/// (.png or .svg). Throws PlotError for no series, x and y of different
/// lengths, no drawable point at all, or a file that cannot be written.
void plot_curves(const std::filesystem::path& path, const PlotCurvesOptions& options);

/// One attention heatmap.
struct AttentionPlot {
  /// [T][S]: row t holds the weights output step t gave the S source positions.
  /// Values are drawn on a 0..1 colour scale (clamped); each must be finite.
  std::vector<std::vector<double>> weights;
  /// S labels along the x axis (one per source position), or none for numbers.
  std::vector<std::string> source_labels;
  /// T labels along the y axis (one per output step, the first at the top), or none for numbers.
  std::vector<std::string> target_labels;
  std::string title;
  std::string x_label = "input";
  std::string y_label = "output";
};

/// Draws one heatmap (white 0 to dark blue 1) with its labels and a colour
/// bar into `path` (.png or .svg). Throws PlotError for empty weights, ragged
/// rows, a non-finite weight, label counts that do not match the weights, or a
/// file that cannot be written.
void plot_attention(const std::filesystem::path& path, const std::vector<std::vector<double>>& weights,
                    const std::vector<std::string>& source_labels, const std::vector<std::string>& target_labels,
                    const std::string& title, PlotSize size = {800, 600});

struct AttentionGridOptions {
  /// Heatmaps per row; 0 picks ceil(sqrt(count)).
  int columns = 0;
  /// Size of each heatmap's cell; the picture is columns x rows of them.
  PlotSize cell = {480, 380};
};

/// Draws several heatmaps (one per dev word, say) in a grid in one file, each
/// as plot_attention draws it. Throws as plot_attention does, naming the
/// heatmap; also for no heatmaps.
void plot_attention_grid(const std::filesystem::path& path, const std::vector<AttentionPlot>& plots,
                         const AttentionGridOptions& options = {});

}  // namespace tg
