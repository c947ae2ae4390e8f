#pragma once
/// The PLplot session behind every plot: one at a time, a fresh stream, error
/// handlers that throw, an atomic write. Internal to tapegrad_plot; the tests
/// use it to reach PLplot's error paths.

#include <filesystem>
#include <functional>

#include "tapegrad/plot/plot.hpp"

namespace tg::plot_detail {

/// Opens a PLplot stream on the device the extension of `path` names (.png:
/// pngcairo, .svg: svgcairo) with `columns` x `rows` subpages of a page of
/// `size`, runs `draw`, ends the stream and renames the output over `path`.
/// `caller` starts every error message. Errors PLplot reports through plexit
/// or plabort while drawing become PlotError naming `path`; nothing is left
/// behind then, and an existing `path` is untouched.
void render(const std::filesystem::path& path, const char* caller, PlotSize size, int columns, int rows,
            const std::function<void()>& draw);

}  // namespace tg::plot_detail
