#pragma once
// The subcommands of `tapegrad`. Each lives in its own file and adds itself to
// the app with a callback that does the work; main() turns any exception
// into one line on stderr and exit status 1.
//
// To add one (train, eval, predict, graph, ...): write cli/<name>.cpp with an
// add_<name>_command, declare it here, call it in main.cpp and list the file
// in cli/CMakeLists.txt.

#include <CLI/CLI.hpp>

namespace tg::cli {

/// `tapegrad inspect FILE`: the tensors and metadata of a safetensors file.
void add_inspect_command(CLI::App& app);
/// `tapegrad train`: trains a model (G2P on CMUdict, or TSV files); train.cpp.
void add_train_command(CLI::App& app);
/// `tapegrad eval CHECKPOINT`: WER/PER or BLEU/ROUGE of a saved model on a split or file.
void add_eval_command(CLI::App& app);
/// `tapegrad predict CHECKPOINT [SOURCE...]`: n-best beam search outputs with scores.
void add_predict_command(CLI::App& app);
/// `tapegrad quantize IN OUT`: a saved model with int8 weights, or in float16 or bfloat16.
void add_quantize_command(CLI::App& app);
/// `tapegrad prune IN OUT --sparsity S`: a saved model with its smallest weights pruned.
void add_prune_command(CLI::App& app);
/// `tapegrad distill TEACHER --out DIR`: a teacher's outputs on its training sources (TSV).
void add_distill_command(CLI::App& app);
/// `tapegrad graph CHECKPOINT`: the graph of one training step as SVG, PNG or DOT.
void add_graph_command(CLI::App& app);

}  // namespace tg::cli
