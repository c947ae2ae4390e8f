// The plot suite: tapegrad_plot writes PNG and SVG files of the asked size,
// atomically, and turns every bad input and every PLplot error into PlotError.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>
#include <unistd.h>

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tapegrad/plot/plot.hpp"
#include "tapegrad/plot/render.hpp"

// PLplot's own error reporting (plplotP.h): plexit ends the program unless its
// handler says otherwise, plabort warns and makes the failing call return.
extern "C" void plexit(const char* message);
extern "C" void plabort(const char* message);
extern "C" void c_plbox(const char* xopt, double xtick, std::int32_t nxsub, const char* yopt, double ytick,
                        std::int32_t nysub);

namespace fs = std::filesystem;

namespace {

// A fresh directory per test, removed at the end.
struct TempDir {
  fs::path path;
  TempDir() {
    static int counter = 0;
    path = fs::temp_directory_path() /
           ("tapegrad_test_plot_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() {
    std::error_code ignored;
    fs::permissions(path, fs::perms::owner_all, fs::perm_options::add, ignored);
    fs::remove_all(path, ignored);
  }
  fs::path operator/(const std::string& name) const { return path / name; }
};

std::string read_bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_bytes(const fs::path& path, const std::string& bytes) { std::ofstream(path, std::ios::binary) << bytes; }

std::uint32_t big_endian(const std::string& bytes, std::size_t at) {
  std::uint32_t v = 0;
  for (std::size_t i = 0; i < 4; ++i) v = (v << 8) | static_cast<unsigned char>(bytes[at + i]);
  return v;
}

// Checks the PNG signature and the IHDR chunk (the first one); returns {width, height}.
std::pair<std::uint32_t, std::uint32_t> png_size(const fs::path& path) {
  std::string bytes = read_bytes(path);
  REQUIRE(bytes.size() > 33);
  CHECK(bytes.substr(0, 8) == std::string("\x89PNG\r\n\x1a\n", 8));
  CHECK(bytes.substr(12, 4) == "IHDR");
  return {big_endian(bytes, 16), big_endian(bytes, 20)};
}

// Only the target is in the directory: no temporary file was left behind.
std::vector<std::string> files_in(const fs::path& dir) {
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(dir)) names.push_back(entry.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

tg::PlotCurvesOptions training_curves() {
  tg::PlotCurvesOptions o;
  tg::Series train{"train loss", {}, {}};
  for (int step = 0; step < 200; ++step) {
    train.x.push_back(step);
    train.y.push_back(3.0 * std::exp(-step / 60.0) + 0.1 * std::sin(step / 3.0) + 0.3);
  }
  tg::Series dev{"dev loss", {50, 100, 150, 200}, {1.9, 1.2, 0.9, 0.8}, true};
  o.series = {train, dev};
  o.title = "Training";
  o.y_label = "loss";
  return o;
}

tg::AttentionPlot diagonal_attention(std::size_t t_len, std::size_t s_len) {
  tg::AttentionPlot a;
  for (std::size_t t = 0; t < t_len; ++t) {
    std::vector<double> row(s_len);
    double sum = 0;
    for (std::size_t s = 0; s < s_len; ++s) {
      double centre = (t + 0.5) * static_cast<double>(s_len) / static_cast<double>(t_len);
      row[s] = std::exp(-std::pow(static_cast<double>(s) + 0.5 - centre, 2));
      sum += row[s];
    }
    for (double& w : row) w /= sum;
    a.weights.push_back(row);
    a.target_labels.push_back(std::string(1, static_cast<char>('a' + t % 26)));
  }
  for (std::size_t s = 0; s < s_len; ++s) a.source_labels.push_back(std::to_string(s));
  a.title = "attention";
  return a;
}

// The message of the PlotError `f` throws.
template <class F>
std::string plot_error(F&& f) {
  try {
    f();
  } catch (const tg::PlotError& e) {
    return e.what();
  }
  FAIL("no PlotError thrown");
  return {};
}

}  // namespace

TEST_CASE("plot_curves writes a PNG of the asked size") {
  TempDir dir;
  auto o = training_curves();
  tg::plot_curves(dir / "curves.png", o);
  CHECK(png_size(dir / "curves.png") == std::pair<std::uint32_t, std::uint32_t>{1000, 600});
  o.size = {640, 480};
  o.log_y = true;
  tg::plot_curves(dir / "small.png", o);
  CHECK(png_size(dir / "small.png") == std::pair<std::uint32_t, std::uint32_t>{640, 480});
  CHECK(files_in(dir.path) == std::vector<std::string>{"curves.png", "small.png"});
}

TEST_CASE("plot_curves draws something, and different inputs give different pictures") {
  TempDir dir;
  // A page with nothing on it compresses to almost nothing.
  tg::plot_detail::render(dir / "blank.png", "test", {1000, 600}, 1, 1, [] {});
  CHECK(png_size(dir / "blank.png") == std::pair<std::uint32_t, std::uint32_t>{1000, 600});
  auto o = training_curves();
  tg::plot_curves(dir / "a.png", o);
  o.series[0].y[10] = 5;
  tg::plot_curves(dir / "b.png", o);
  const auto blank = read_bytes(dir / "blank.png"), a = read_bytes(dir / "a.png"), b = read_bytes(dir / "b.png");
  CHECK(a.size() > 4 * blank.size());
  CHECK(a != b);
}

TEST_CASE("plot_curves skips non-finite points and draws lone points") {
  TempDir dir;
  tg::PlotCurvesOptions o;
  const double nan = std::numeric_limits<double>::quiet_NaN(), inf = std::numeric_limits<double>::infinity();
  o.series = {{"gappy", {0, 1, 2, 3, 4, 5}, {1, nan, 2, inf, 3, 2}},
              {"one point", {2}, {1.5}},
              {"empty", {}, {}},
              {"", {nan, 1}, {1, -inf}}};
  tg::plot_curves(dir / "gaps.png", o);
  CHECK(png_size(dir / "gaps.png").first == 1000);
  // On a log axis values <= 0 are skipped too.
  o.log_y = true;
  o.series[0].y[0] = 0;
  tg::plot_curves(dir / "gaps_log.png", o);
  // One x value, one y value: the axes still have a range.
  o.series = {{"flat", {3, 3}, {0.5, 0.5}}};
  tg::plot_curves(dir / "flat.png", o);
  CHECK(files_in(dir.path) == std::vector<std::string>{"flat.png", "gaps.png", "gaps_log.png"});
}

TEST_CASE("plots are written as SVG for a .svg path") {
  TempDir dir;
  tg::plot_curves(dir / "curves.svg", training_curves());
  const auto a = diagonal_attention(4, 6);
  tg::plot_attention(dir / "attention.SVG", a.weights, a.source_labels, a.target_labels, a.title);
  for (const char* name : {"curves.svg", "attention.SVG"}) {
    std::string text = read_bytes(dir / name);
    CHECK(text.rfind("<?xml", 0) == 0);
    CHECK(text.find("<svg") != std::string::npos);
  }
}

TEST_CASE("plot_attention writes a heatmap of the asked size") {
  TempDir dir;
  auto a = diagonal_attention(5, 12);
  a.title = "c#t: 'cat'";  // PLplot's escape character is drawn as itself
  tg::plot_attention(dir / "att.png", a.weights, a.source_labels, a.target_labels, a.title);
  CHECK(png_size(dir / "att.png") == std::pair<std::uint32_t, std::uint32_t>{800, 600});
  // Without labels (numbers), long labels, and more cells than labels fit.
  tg::plot_attention(dir / "numbers.png", a.weights, {}, {}, "", {300, 200});
  CHECK(png_size(dir / "numbers.png") == std::pair<std::uint32_t, std::uint32_t>{300, 200});
  auto big = diagonal_attention(60, 400);
  for (auto& l : big.source_labels) l = "frame " + l;
  tg::plot_attention(dir / "big.png", big.weights, big.source_labels, big.target_labels, "400 frames");
  // Different weights, different picture.
  auto b = a;
  b.weights[0][0] = 1;
  tg::plot_attention(dir / "other.png", b.weights, b.source_labels, b.target_labels, a.title);
  CHECK(read_bytes(dir / "att.png") != read_bytes(dir / "other.png"));
  // Values outside 0..1 are clamped, not refused.
  b.weights[1][1] = -3;
  b.weights[2][2] = 7;
  tg::plot_attention(dir / "clamped.png", b.weights, {}, {}, "clamped");
}

TEST_CASE("plot_attention_grid lays out one heatmap per cell") {
  TempDir dir;
  std::vector<tg::AttentionPlot> plots{diagonal_attention(3, 8), diagonal_attention(5, 10), diagonal_attention(4, 4),
                                       diagonal_attention(2, 9), diagonal_attention(6, 7)};
  tg::plot_attention_grid(dir / "grid.png", plots);  // 5 plots: 3 columns, 2 rows
  CHECK(png_size(dir / "grid.png") == std::pair<std::uint32_t, std::uint32_t>{3 * 480, 2 * 380});
  tg::plot_attention_grid(dir / "row.png", plots, {.columns = 5, .cell = {200, 150}});
  CHECK(png_size(dir / "row.png") == std::pair<std::uint32_t, std::uint32_t>{1000, 150});
  tg::plot_attention_grid(dir / "one.png", {plots[0]});
  CHECK(png_size(dir / "one.png") == std::pair<std::uint32_t, std::uint32_t>{480, 380});
}

TEST_CASE("bad curves input is refused with a message naming what is wrong") {
  TempDir dir;
  const fs::path png = dir / "c.png";
  const double nan = std::numeric_limits<double>::quiet_NaN();
  tg::PlotCurvesOptions o;
  CHECK(plot_error([&] { tg::plot_curves(png, o); }).find("no series") != std::string::npos);
  o.series = {{"ok", {1, 2}, {1, 2}}, {"dev", {1, 2, 3}, {1, 2}}};
  std::string m = plot_error([&] { tg::plot_curves(png, o); });
  CHECK(m.find("series 1 (\"dev\") has 3 x values and 2 y values") != std::string::npos);
  CHECK(m.find(png.string()) != std::string::npos);
  o.series = {{"nan", {nan, 1}, {1, nan}}, {"empty", {}, {}}};
  CHECK(plot_error([&] { tg::plot_curves(png, o); }).find("no point to draw") != std::string::npos);
  o.series = {{"negative", {1, 2}, {-1, 0}}};
  o.log_y = true;
  CHECK(plot_error([&] { tg::plot_curves(png, o); }).find("log y axis") != std::string::npos);
  o.log_y = false;
  o.size = {10, 600};
  CHECK(plot_error([&] { tg::plot_curves(png, o); }).find("size 10x600 is outside 64..8192") != std::string::npos);
  o.size = {1000, 600};
  CHECK(plot_error([&] { tg::plot_curves(dir / "c.jpg", o); }).find("use .png or .svg") != std::string::npos);
  CHECK(files_in(dir.path).empty());
}

TEST_CASE("bad attention input is refused with a message naming what is wrong") {
  TempDir dir;
  const fs::path png = dir / "a.png";
  auto message = [&](const std::vector<std::vector<double>>& w, const std::vector<std::string>& src,
                     const std::vector<std::string>& tgt) {
    return plot_error([&] { tg::plot_attention(png, w, src, tgt, "t"); });
  };
  CHECK(message({}, {}, {}).find("no weights") != std::string::npos);
  CHECK(message({{}}, {}, {}).find("row 0 is empty") != std::string::npos);
  CHECK(message({{0.5, 0.5}, {1}}, {}, {}).find("ragged: row 1 has 1 values, row 0 has 2") != std::string::npos);
  CHECK(message({{0.5, std::numeric_limits<double>::quiet_NaN()}}, {}, {}).find("weight [0][1] is nan") !=
        std::string::npos);
  CHECK(message({{0.5, 0.5}}, {"a"}, {}).find("1 source labels for 2 source positions (weights are [1][2])") !=
        std::string::npos);
  CHECK(message({{0.5, 0.5}}, {}, {"x", "y"}).find("2 target labels for 1 output steps") != std::string::npos);
  CHECK(message({}, {}, {}).find(png.string()) != std::string::npos);
  CHECK(plot_error([&] {
          tg::plot_attention(png, {{1}}, {}, {}, "t", {64, 9000});
        }).find("outside") != std::string::npos);
}

TEST_CASE("bad grid input names the heatmap") {
  TempDir dir;
  const fs::path png = dir / "g.png";
  CHECK(plot_error([&] { tg::plot_attention_grid(png, {}); }).find("no heatmaps") != std::string::npos);
  std::vector<tg::AttentionPlot> plots{diagonal_attention(3, 4), diagonal_attention(3, 4)};
  plots[1].title = "dog";
  plots[1].target_labels.pop_back();
  CHECK(plot_error([&] {
          tg::plot_attention_grid(png, plots);
        }).find("heatmap 1 (\"dog\"): 2 target labels for 3 output steps") != std::string::npos);
  plots[1] = diagonal_attention(3, 4);
  CHECK(plot_error([&] { tg::plot_attention_grid(png, plots, {.columns = -1}); }).find("columns is -1") !=
        std::string::npos);
  CHECK(plot_error([&] {
          tg::plot_attention_grid(png, plots, {.columns = 2, .cell = {5000, 300}});
        }).find("make 10000x300, over 8192") != std::string::npos);
  CHECK(files_in(dir.path).empty());
}

TEST_CASE("a directory that cannot be written gives an error naming the path") {
  TempDir dir;
  const fs::path missing = dir / "no such dir" / "c.png";
  std::string m = plot_error([&] { tg::plot_curves(missing, training_curves()); });
  CHECK(m.find("cannot write '" + missing.string() + "'") != std::string::npos);
  CHECK(m.find("No such file or directory") != std::string::npos);
  // Read-only directories bind everyone but root.
  if (::geteuid() != 0) {
    fs::permissions(dir.path, fs::perms::owner_read | fs::perms::owner_exec);
    const auto a = diagonal_attention(2, 2);
    m = plot_error([&] { tg::plot_attention(dir / "a.png", a.weights, {}, {}, ""); });
    CHECK(m.find("cannot write '" + (dir / "a.png").string() + "'") != std::string::npos);
    CHECK(m.find("Permission denied") != std::string::npos);
  }
}

TEST_CASE("a failed plot leaves an existing file untouched and no temporary file") {
  TempDir dir;
  const fs::path png = dir / "keep.png";
  write_bytes(png, "the previous plot");
  auto o = training_curves();
  o.series[1].y.pop_back();
  CHECK_THROWS_AS(tg::plot_curves(png, o), tg::PlotError);
  // Failures inside PLplot, after the temporary file exists and PLplot writes to it.
  CHECK_THROWS_AS(tg::plot_detail::render(png, "test", {200, 100}, 1, 1, [] { plexit("stop here"); }), tg::PlotError);
  CHECK_THROWS_AS(tg::plot_detail::render(png, "test", {200, 100}, 1, 1, [] { plabort("not this"); }), tg::PlotError);
  CHECK(read_bytes(png) == "the previous plot");
  CHECK(files_in(dir.path) == std::vector<std::string>{"keep.png"});
  // A successful plot replaces it.
  tg::plot_curves(png, training_curves());
  CHECK(png_size(png).first == 1000);
  CHECK(files_in(dir.path) == std::vector<std::string>{"keep.png"});
}

TEST_CASE("PLplot's errors become PlotError instead of ending the program") {
  TempDir dir;
  const fs::path png = dir / "p.png";
  std::string m = plot_error([&] { tg::plot_detail::render(png, "test", {200, 100}, 1, 1, [] { plexit("boom"); }); });
  CHECK(m == "test: cannot plot '" + png.string() + "': PLplot: boom");
  m = plot_error([&] {
    tg::plot_detail::render(png, "test", {200, 100}, 1, 1, [] {
      plabort("first");
      plabort("second");
    });
  });
  CHECK(m.find("PLplot: first") != std::string::npos);
  CHECK(m.find("second") != std::string::npos);
  // A real misuse PLplot catches: plbox before any viewport.
  m = plot_error([&] {
    tg::plot_detail::render(png, "test", {200, 100}, 1, 1, [] { c_plbox("bc", 0, 0, "bc", 0, 0); });
  });
  CHECK(m.find("plbox: Please set up window first") != std::string::npos);
  // And the next plot is fine.
  tg::plot_curves(png, training_curves());
  CHECK(png_size(png).first == 1000);
}

TEST_CASE("plots from several threads are drawn one at a time") {
  TempDir dir;
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&dir, i] {
      if (i % 2 == 0) {
        tg::plot_curves(dir / ("c" + std::to_string(i) + ".png"), training_curves());
      } else {
        const auto a = diagonal_attention(4, 5);
        tg::plot_attention(dir / ("a" + std::to_string(i) + ".png"), a.weights, a.source_labels, a.target_labels, "");
      }
    });
  }
  for (auto& t : threads) t.join();
  CHECK(files_in(dir.path) == std::vector<std::string>{"a1.png", "a3.png", "c0.png", "c2.png"});
}

namespace {

// The dark (weight 1) cells of an SVG heatmap: the bounding boxes of the filled
// paths whose red channel is below 50% (white = 0 has 100%) and that are larger
// than 10 x 10 points (the colour bar's steps and the glyphs are smaller).
struct Box {
  double x0, x1, y0, y1;
};
std::vector<Box> dark_cells(const std::string& svg) {
  std::vector<Box> out;
  std::size_t at = 0;
  while ((at = svg.find("<path", at)) != std::string::npos) {
    const std::size_t end = svg.find('>', at);
    const std::string path = svg.substr(at, end - at);
    at = end;
    const std::size_t fill = path.find("fill:rgb(");
    const std::size_t d = path.find(" d=\"");
    if (fill == std::string::npos || d == std::string::npos) continue;
    if (std::stod(path.substr(fill + 9)) >= 50) continue;
    Box box{1e9, -1e9, 1e9, -1e9};
    std::string numbers = path.substr(d + 4, path.find('"', d + 4) - d - 4);
    for (char& c : numbers) {
      if (c == 'M' || c == 'L' || c == 'Z' || c == 'C') c = ' ';
    }
    std::istringstream in(numbers);
    double x, y;
    while (in >> x >> y) {
      box = {std::min(box.x0, x), std::max(box.x1, x), std::min(box.y0, y), std::max(box.y1, y)};
    }
    if (box.x1 - box.x0 > 10 && box.y1 - box.y0 > 10) out.push_back(box);
  }
  return out;
}

}  // namespace

TEST_CASE("plot_attention: each weight fills exactly its own cell (row t = output t, column s = input s)") {
  TempDir dir;
  // One dark cell each: (t 0, s 1) and (t 1, s 0) of a 2 x 2 map.
  tg::plot_attention(dir / "a.svg", {{0, 1}, {0, 0}}, {"a", "b"}, {"A", "B"}, "a");
  tg::plot_attention(dir / "b.svg", {{0, 0}, {1, 0}}, {"a", "b"}, {"A", "B"}, "b");
  const std::vector<Box> a = dark_cells(read_bytes(dir / "a.svg")), b = dark_cells(read_bytes(dir / "b.svg"));
  REQUIRE(a.size() == 1);
  REQUIRE(b.size() == 1);
  // Same size, side by side: a's cell is one cell right of b's and one row away from it.
  const double w = a[0].x1 - a[0].x0, h = a[0].y1 - a[0].y0;
  CHECK(b[0].x1 - b[0].x0 == doctest::Approx(w).epsilon(0.01));
  CHECK(b[0].y1 - b[0].y0 == doctest::Approx(h).epsilon(0.01));
  CHECK(a[0].x0 == doctest::Approx(b[0].x1).epsilon(0.01));
  CHECK(std::abs(a[0].y0 - b[0].y0) == doctest::Approx(h).epsilon(0.01));
}
