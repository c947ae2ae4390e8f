// tapegrad: the command line. Subcommands are registered from their own files
// (commands.hpp); errors become one line on stderr and exit status 1.
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <new>
#include <stdexcept>
#include <string>

#include <CLI/CLI.hpp>

#include "tapegrad/base/error.hpp"
#include "tapegrad/cli/commands.hpp"
#include "tapegrad/cli/fast_blas.hpp"
#include "tapegrad/kernels/blas.hpp"

namespace {

// One line, whatever the message holds, so scripts can read it.
std::string one_line(std::string text) {
  for (char& c : text) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  return text;
}

// OpenBLAS chose generic kernels for a CPU it does not know (kernels/blas.hpp):
// start again with OPENBLAS_CORETYPE set, which it reads only when it loads.
// TAPEGRAD_ISA (kernels/fast_math.hpp) may ask for a lower level: OpenBLAS then loads that level's kernels.
void use_fast_blas(char** argv) {
  std::string core;
  try {
    core = tg::restart_with_better_blas(argv);
  } catch (const tg::Error& e) {
    std::fprintf(stderr, "tapegrad: %s\n", e.what());
    std::exit(2);
  }
  if (core.empty()) return;
  std::fprintf(stderr,
               "tapegrad: note: OpenBLAS runs its generic kernels (%s) on this CPU; set "
               "OPENBLAS_CORETYPE=%s for matrix products about 4x faster\n",
               tg::blas_core_name().c_str(), core.c_str());
}

// The command line, each argument cut to 40 bytes: what was being processed when an
// allocation failed somewhere that did not check its size first.
std::string arguments(int argc, char** argv) {
  std::string out;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    const bool cut = arg.size() > 40;
    out += (i > 1 ? " " : "") + (cut ? arg.substr(0, 40) + "...(" + std::to_string(arg.size()) + " bytes)" : arg);
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  use_fast_blas(argv);
  tg::flush_denormals();
  CLI::App app{"tapegrad: tools for tapegrad models and checkpoints"};
  app.require_subcommand(1);
  tg::cli::add_inspect_command(app);
  tg::cli::add_train_command(app);
  tg::cli::add_eval_command(app);
  tg::cli::add_predict_command(app);
  tg::cli::add_quantize_command(app);
  tg::cli::add_prune_command(app);
  tg::cli::add_distill_command(app);
  tg::cli::add_graph_command(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::RuntimeError& e) {
    return e.get_exit_code();  // a command that ends with its own status (train interrupted: 130)
  } catch (const CLI::ParseError& e) {
    // --help prints and succeeds; a usage error is status 2, as in most tools.
    return app.exit(e) == 0 ? 0 : 2;
  } catch (const std::exception& e) {
    std::string command =
        app.get_subcommands().empty() ? "tapegrad" : "tapegrad " + app.get_subcommands()[0]->get_name();
    // Inputs are checked before they size an allocation; for one that no check foresaw
    // (std::bad_array_new_length is a bad_alloc), the command line names the input.
    std::string what = one_line(e.what());
    if (dynamic_cast<const std::bad_alloc*>(&e)) {
      what = "out of memory (" + what + ") running '" + one_line(arguments(argc, argv)) +
             "': a smaller input, model, --beam or --batch-size would need less";
    } else if (dynamic_cast<const std::length_error*>(&e)) {
      what = "a size computed from the input is too large (" + what + ") running '" + one_line(arguments(argc, argv)) +
             "'";
    }
    std::fprintf(stderr, "%s: %s\n", command.c_str(), what.c_str());
    return 1;
  }
  return 0;
}
