// Draws the pictures of docs/plots.md: a training run's curves and the
// attention of four dev words. Synthetic numbers, shaped like a real run.
//   plot_example [output directory, default .]
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "tapegrad/plot/plot.hpp"

namespace {

// A soft, roughly monotonic alignment of `target` onto `frames` input frames.
tg::AttentionPlot word(const std::string& target, std::size_t frames) {
  tg::AttentionPlot a;
  a.title = "\"" + target + "\"";
  a.x_label = "input frame";
  a.y_label = "output";
  const std::size_t steps = target.size() + 1;  // the characters, then end of sequence
  for (std::size_t t = 0; t < steps; ++t) {
    double centre = (static_cast<double>(t) + 0.7) * static_cast<double>(frames) / static_cast<double>(steps);
    std::vector<double> row(frames);
    double sum = 0;
    for (std::size_t s = 0; s < frames; ++s) {
      double d = (static_cast<double>(s) - centre) / 1.3;
      row[s] = std::exp(-d * d) + 0.02;
      sum += row[s];
    }
    for (double& w : row) w /= sum;
    a.weights.push_back(row);
    a.target_labels.push_back(t < target.size() ? std::string(1, target[t]) : std::string("</s>"));
  }
  return a;
}

}  // namespace

int main(int argc, char** argv) {
  const std::filesystem::path dir = argc > 1 ? argv[1] : ".";
  try {
    tg::PlotCurvesOptions curves;
    tg::Series train{"train loss", {}, {}};
    for (int step = 1; step <= 600; ++step) {
      train.x.push_back(step);
      train.y.push_back(2.6 * std::exp(-step / 150.0) + 0.25 + 0.08 * std::sin(step * 0.7) * std::exp(-step / 400.0));
    }
    tg::Series dev{"dev loss", {100, 200, 300, 400, 500, 600}, {1.65, 1.02, 0.74, 0.61, 0.57, 0.58}, true};
    tg::Series wer{"dev WER", {100, 200, 300, 400, 500, 600}, {0.92, 0.61, 0.42, 0.33, 0.30, 0.29}, true};
    curves.series = {train, dev, wer};
    curves.title = "Seq2Seq on spoken digits";
    curves.x_label = "step";
    curves.y_label = "loss, WER";
    curves.size = {700, 420};
    tg::plot_curves(dir / "plot_curves.png", curves);

    tg::plot_attention_grid(dir / "plot_attention.png",
                            {word("one", 14), word("seven", 20), word("three", 18), word("zero", 16)},
                            {.columns = 2, .cell = {380, 300}});
  } catch (const std::exception& e) {
    std::fprintf(stderr, "plot_example: %s\n", e.what());
    return 1;
  }
}
