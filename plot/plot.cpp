#include "tapegrad/plot/plot.hpp"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <plplot.h>

#include "tapegrad/plot/render.hpp"

namespace tg {
namespace {

// ---------------------------------------------------------------------------
// Checks on the input, before PLplot is touched.

constexpr int min_side = 64;
constexpr int max_side = 8192;

void check_size(PlotSize size, const char* caller, const std::filesystem::path& path) {
  auto ok = [](int side) { return side >= min_side && side <= max_side; };
  if (!ok(size.width) || !ok(size.height)) {
    throw PlotError(fmt::format("{}: cannot plot '{}': size {}x{} is outside {}..{} on a side", caller, path.string(),
                                size.width, size.height, min_side, max_side));
  }
}

// `what` names the heatmap in a grid ("plot 2 (\"cat\")"), or is empty.
void check_attention(const AttentionPlot& a, const char* caller, const std::filesystem::path& path,
                     const std::string& what) {
  auto fail = [&](const std::string& why) {
    throw PlotError(
        fmt::format("{}: cannot plot '{}': {}{}", caller, path.string(), what.empty() ? "" : what + ": ", why));
  };
  if (a.weights.empty()) fail("no weights (need [T][S], T and S at least 1)");
  const std::size_t s = a.weights[0].size();
  if (s == 0) fail("weights row 0 is empty (need [T][S], S at least 1)");
  for (std::size_t t = 0; t < a.weights.size(); ++t) {
    if (a.weights[t].size() != s) {
      fail(fmt::format("weights are ragged: row {} has {} values, row 0 has {}", t, a.weights[t].size(), s));
    }
    for (std::size_t j = 0; j < s; ++j) {
      if (!std::isfinite(a.weights[t][j])) fail(fmt::format("weight [{}][{}] is {}", t, j, a.weights[t][j]));
    }
  }
  if (!a.source_labels.empty() && a.source_labels.size() != s) {
    fail(fmt::format("{} source labels for {} source positions (weights are [{}][{}])", a.source_labels.size(), s,
                     a.weights.size(), s));
  }
  if (!a.target_labels.empty() && a.target_labels.size() != a.weights.size()) {
    fail(fmt::format("{} target labels for {} output steps (weights are [{}][{}])", a.target_labels.size(),
                     a.weights.size(), a.weights.size(), s));
  }
}

// ---------------------------------------------------------------------------
// Drawing helpers.

// PLplot reads '#' as the start of an escape sequence (#u, #d, #(nnn)...).
std::string pl_text(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    if (c == '#') out += '#';
    out += c;
  }
  return out;
}

// cmap0: 0 background, 1 axes and text, 2 grid lines, 3.. the series (matplotlib's tab10).
constexpr int grid_colour = 2;
constexpr int first_series_colour = 3;
constexpr int series_colours = 10;
void set_colours() {
  static constexpr int tab10[series_colours][3] = {{31, 119, 180},  {255, 127, 14}, {44, 160, 44},   {214, 39, 40},
                                                   {148, 103, 189}, {140, 86, 75},  {227, 119, 194}, {127, 127, 127},
                                                   {188, 189, 34},  {23, 190, 207}};
  plscmap0n(first_series_colour + series_colours);
  plscol0(0, 255, 255, 255);
  plscol0(1, 0, 0, 0);
  plscol0(grid_colour, 220, 220, 220);
  for (int i = 0; i < series_colours; ++i) plscol0(first_series_colour + i, tab10[i][0], tab10[i][1], tab10[i][2]);
  // cmap1 for heatmaps: white at 0 through mid blue to dark blue at 1 (matplotlib's Blues).
  const PLFLT at[] = {0.0, 0.5, 1.0};
  const PLFLT r[] = {1.0, 0.42, 0.03};
  const PLFLT g[] = {1.0, 0.68, 0.19};
  const PLFLT b[] = {1.0, 0.84, 0.42};
  plscmap1n(256);
  plscmap1l(1, 3, at, r, g, b, nullptr);
}

// The range [lo, hi] with a margin, never empty.
void pad_range(double& lo, double& hi, double fraction) {
  if (lo == hi) {
    double d = lo == 0 ? 1.0 : std::abs(lo) * 0.1;
    lo -= d;
    hi += d;
    return;
  }
  double d = (hi - lo) * fraction;
  lo -= d;
  hi += d;
}

// ---------------------------------------------------------------------------
// Curves.

// A filled circle, drawn as text centred on the point (cairo draws it with a system font).
constexpr const char* marker = "\u25cf";

// A point is drawn if both coordinates are finite (and y > 0 on a log axis);
// on a log axis y is drawn as log10(y), which PLplot's "l" axis option labels.
bool drawable(double x, double y, bool log_y) { return std::isfinite(x) && std::isfinite(y) && (!log_y || y > 0); }
double plotted_y(double y, bool log_y) { return log_y ? std::log10(y) : y; }

void draw_curves(const PlotCurvesOptions& o, double xmin, double xmax, double ymin, double ymax) {
  set_colours();
  pladv(0);
  plschr(0, 1.1);
  plvsta();
  plwind(xmin, xmax, ymin, ymax);
  plwidth(1);
  plcol0(grid_colour);
  plbox("g", 0, 0, "g", 0, 0);
  plcol0(1);
  plbox("bcnst", 0, 0, o.log_y ? "bcnstlv" : "bcnstv", 0, 0);
  pllab(pl_text(o.x_label).c_str(), pl_text(o.y_label).c_str(), pl_text(o.title).c_str());

  std::vector<PLINT> opts, colours, styles, symbol_colours, symbol_numbers;
  std::vector<PLFLT> widths, symbol_scales;
  std::vector<std::string> names;
  for (std::size_t i = 0; i < o.series.size(); ++i) {
    const Series& s = o.series[i];
    const PLINT colour = first_series_colour + static_cast<PLINT>(i % series_colours);
    plcol0(colour);
    plwidth(2);
    std::vector<PLFLT> xs, ys;
    // Runs of drawable points; a skipped point ends a run.
    auto flush = [&] {
      if (s.line && xs.size() >= 2) plline(static_cast<PLINT>(xs.size()), xs.data(), ys.data());
      // A lone point would vanish without a marker.
      if (!s.markers && (xs.size() == 1 || !s.line) && !xs.empty()) {
        plstring(static_cast<PLINT>(xs.size()), xs.data(), ys.data(), marker);
      }
      xs.clear();
      ys.clear();
    };
    std::vector<PLFLT> mx, my;
    for (std::size_t k = 0; k < s.x.size(); ++k) {
      if (!drawable(s.x[k], s.y[k], o.log_y)) {
        flush();
        continue;
      }
      xs.push_back(s.x[k]);
      ys.push_back(plotted_y(s.y[k], o.log_y));
      mx.push_back(xs.back());
      my.push_back(ys.back());
    }
    flush();
    if (s.markers && !mx.empty()) plstring(static_cast<PLINT>(mx.size()), mx.data(), my.data(), marker);
    if (s.name.empty()) continue;
    names.push_back(pl_text(s.name));
    opts.push_back((s.line ? PL_LEGEND_LINE : 0) | (s.markers || !s.line ? PL_LEGEND_SYMBOL : 0));
    colours.push_back(colour);
    styles.push_back(1);
    widths.push_back(2);
    symbol_colours.push_back(colour);
    symbol_scales.push_back(1);
    symbol_numbers.push_back(1);
  }
  plwidth(1);
  if (names.empty()) return;
  std::vector<const char*> text, symbols;
  for (const std::string& n : names) {
    text.push_back(n.c_str());
    symbols.push_back(marker);
  }
  std::vector<PLINT> text_colours(names.size(), 1);
  PLFLT legend_width = 0, legend_height = 0;
  pllegend(&legend_width, &legend_height, PL_LEGEND_BACKGROUND | PL_LEGEND_BOUNDING_BOX,
           PL_POSITION_TOP | PL_POSITION_RIGHT | PL_POSITION_INSIDE, 0.02, 0.03, 0.08, 0, 1, 1, 0, 0,
           static_cast<PLINT>(names.size()), opts.data(), 1.0, 1.0, 2.0, 0.0, text_colours.data(), text.data(), nullptr,
           nullptr, nullptr, nullptr, colours.data(), styles.data(), widths.data(), symbol_colours.data(),
           symbol_scales.data(), symbol_numbers.data(), symbols.data());
}

// ---------------------------------------------------------------------------
// Attention heatmaps.

// Every `step`-th label fits in `length_mm` when each takes `label_mm`.
std::size_t label_step(std::size_t count, double label_mm, double length_mm) {
  if (length_mm <= 0) return count;
  double fit = std::max(1.0, std::floor(length_mm / label_mm));
  return std::max<std::size_t>(1, static_cast<std::size_t>(std::ceil(static_cast<double>(count) / fit)));
}

// Fills the unit square with lower-left corner (x, y) in colour map 1 at `value` (0..1).
void fill_cell(PLFLT x, PLFLT y, PLFLT value) {
  PLFLT xs[4] = {x, x + 1, x + 1, x}, ys[4] = {y, y, y + 1, y + 1};
  plcol1(value);
  plfill(4, xs, ys);
}

// Draws `a` in the current subpage: the heatmap, the labels of every cell
// that fits, and a colour bar on the right.
void draw_attention(const AttentionPlot& a) {
  const std::size_t rows = a.weights.size();     // T, drawn top to bottom
  const std::size_t cols = a.weights[0].size();  // S, left to right
  pladv(0);
  plcol0(1);

  const PLFLT left = 0.16, right = 0.84, bottom = 0.2, top = 0.88;
  plvpor(left, right, bottom, top);
  const auto S = static_cast<PLFLT>(cols), T = static_cast<PLFLT>(rows);
  plwind(0, S, 0, T);
  // One filled rectangle per cell: cell (t, s) covers [s, s + 1] x [T - 1 - t, T - t]. (plimage
  // would take the values as the corners of an interpolated grid and shift every cell.)
  for (std::size_t t = 0; t < rows; ++t) {
    for (std::size_t s = 0; s < cols; ++s) {
      fill_cell(static_cast<PLFLT>(s), static_cast<PLFLT>(rows - 1 - t), std::clamp(a.weights[t][s], 0.0, 1.0));
    }
  }
  plcol0(1);
  plbox("bc", 0, 0, "bc", 0, 0);

  // Sizes in millimetres, to thin the labels out when the cells are small.
  PLFLT sx0, sx1, sy0, sy1, def_ht, ht;
  plgspa(&sx0, &sx1, &sy0, &sy1);
  plgchr(&def_ht, &ht);
  const double width_mm = (sx1 - sx0) * (right - left), height_mm = (sy1 - sy0) * (top - bottom);

  auto label = [](const std::vector<std::string>& labels, std::size_t i) {
    return labels.empty() ? std::to_string(i) : pl_text(labels[i]);
  };
  std::size_t longest = 1;
  for (std::size_t s = 0; s < cols; ++s) longest = std::max(longest, label(a.source_labels, s).size());
  // Short source labels (characters) sit upright under their cells; longer ones run downwards.
  const bool upright = longest <= 2;
  const std::size_t x_step = label_step(cols, upright ? ht * 1.4 * static_cast<double>(longest) : ht * 1.5, width_mm);
  for (std::size_t s = 0; s < cols; s += x_step) {
    const PLFLT pos = (static_cast<PLFLT>(s) + 0.5) / S;
    if (upright) {
      plmtex("b", 1.4, pos, 0.5, label(a.source_labels, s).c_str());
    } else {
      plmtex("bv", 0.6, pos, 1.0, label(a.source_labels, s).c_str());
    }
  }
  const std::size_t y_step = label_step(rows, ht * 1.5, height_mm);
  for (std::size_t t = 0; t < rows; t += y_step) {
    const PLFLT pos = (T - static_cast<PLFLT>(t) - 0.5) / T;
    plmtex("lv", 0.6, pos, 1.0, label(a.target_labels, t).c_str());
  }
  plmtex("t", 1.2, 0.5, 0.5, pl_text(a.title).c_str());
  plmtex("b", upright ? 3.0 : 4.2, 0.5, 0.5, pl_text(a.x_label).c_str());
  plmtex("l", 5.0, 0.5, 0.5, pl_text(a.y_label).c_str());

  // The colour bar: the 0..1 scale as an image, numbered on its right.
  constexpr int steps = 64;
  plvpor(right + 0.03, right + 0.06, bottom, top);
  plwind(0, 1, 0, steps);
  for (int i = 0; i < steps; ++i) fill_cell(0, i, (i + 0.5) / steps);
  plwind(0, 1, 0, 1);
  plcol0(1);
  plbox("bc", 0, 0, "bcmstv", 0.2, 2);
}

}  // namespace

void plot_curves(const std::filesystem::path& path, const PlotCurvesOptions& o) {
  const char* caller = "plot_curves";
  auto fail = [&](const std::string& why) {
    throw PlotError(fmt::format("{}: cannot plot '{}': {}", caller, path.string(), why));
  };
  if (o.series.empty()) fail("no series");
  check_size(o.size, caller, path);
  double xmin = std::numeric_limits<double>::infinity(), xmax = -xmin, ymin = xmin, ymax = -xmin;
  for (std::size_t i = 0; i < o.series.size(); ++i) {
    const Series& s = o.series[i];
    if (s.x.size() != s.y.size()) {
      fail(fmt::format("series {} (\"{}\") has {} x values and {} y values", i, s.name, s.x.size(), s.y.size()));
    }
    for (std::size_t k = 0; k < s.x.size(); ++k) {
      if (!drawable(s.x[k], s.y[k], o.log_y)) continue;
      xmin = std::min(xmin, s.x[k]);
      xmax = std::max(xmax, s.x[k]);
      ymin = std::min(ymin, plotted_y(s.y[k], o.log_y));
      ymax = std::max(ymax, plotted_y(s.y[k], o.log_y));
    }
  }
  if (xmin > xmax) {
    fail(o.log_y ? "no point to draw: every series is empty or has no finite x with a finite y > 0 (log y axis)"
                 : "no point to draw: every series is empty or has no point with finite x and y");
  }
  pad_range(xmin, xmax, 0.0);
  pad_range(ymin, ymax, 0.05);
  plot_detail::render(path, caller, o.size, 1, 1, [&] { draw_curves(o, xmin, xmax, ymin, ymax); });
}

void plot_attention(const std::filesystem::path& path, const std::vector<std::vector<double>>& weights,
                    const std::vector<std::string>& source_labels, const std::vector<std::string>& target_labels,
                    const std::string& title, PlotSize size) {
  const char* caller = "plot_attention";
  AttentionPlot a{weights, source_labels, target_labels, title};
  check_attention(a, caller, path, "");
  check_size(size, caller, path);
  plot_detail::render(path, caller, size, 1, 1, [&] {
    set_colours();
    draw_attention(a);
  });
}

void plot_attention_grid(const std::filesystem::path& path, const std::vector<AttentionPlot>& plots,
                         const AttentionGridOptions& options) {
  const char* caller = "plot_attention_grid";
  if (plots.empty()) throw PlotError(fmt::format("{}: cannot plot '{}': no heatmaps", caller, path.string()));
  for (std::size_t i = 0; i < plots.size(); ++i) {
    check_attention(plots[i], caller, path, fmt::format("heatmap {} (\"{}\")", i, plots[i].title));
  }
  const int count = static_cast<int>(std::min<std::size_t>(plots.size(), max_side));
  if (options.columns < 0) {
    throw PlotError(fmt::format("{}: cannot plot '{}': columns is {}", caller, path.string(), options.columns));
  }
  const int columns = options.columns > 0 ? std::min(options.columns, count)
                                          : static_cast<int>(std::ceil(std::sqrt(static_cast<double>(count))));
  const int rows = (static_cast<int>(plots.size()) + columns - 1) / columns;
  check_size(options.cell, caller, path);
  const long width = long{options.cell.width} * columns, height = long{options.cell.height} * rows;
  if (width > max_side || height > max_side) {
    throw PlotError(fmt::format("{}: cannot plot '{}': {} x {} heatmaps of {}x{} make {}x{}, over {} on a side", caller,
                                path.string(), columns, rows, options.cell.width, options.cell.height, width, height,
                                max_side));
  }
  const PlotSize size{static_cast<int>(width), static_cast<int>(height)};
  plot_detail::render(path, caller, size, columns, rows, [&] {
    set_colours();
    for (const AttentionPlot& a : plots) draw_attention(a);
  });
}

}  // namespace tg
