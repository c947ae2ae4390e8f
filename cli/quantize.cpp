// `tapegrad quantize IN OUT`: a saved model's weights in int8 (dynamic quantization, as
// PyTorch's quantize_dynamic) or every parameter in float16 or bfloat16, written to a new file
// that eval, predict and the library load as they load IN (docs/compression.md).
#include <filesystem>
#include <memory>
#include <string>

#include <fmt/format.h>

#include "tapegrad/base/error.hpp"
#include "tapegrad/cli/commands.hpp"
#include "tapegrad/cli/options.hpp"
#include "tapegrad/io/checkpoint.hpp"
#include "tapegrad/io/quantized_checkpoint.hpp"
#include "tapegrad/models/quantize.hpp"
#include "tapegrad/train/saved_model.hpp"

namespace tg::cli {
namespace {

namespace fs = std::filesystem;

struct QuantizeConfig {
  std::string in, out;
  std::string dtype = "int8";
  bool per_tensor = false;
  bool embeddings = false;
  std::string activations = "per_row";
  bool overwrite = false;
};

std::string megabytes(std::uintmax_t bytes) { return fmt::format("{:.2f} MB", double(bytes) / 1e6); }

void run_quantize(const QuantizeConfig& c) {
  check_output_file("quantize", c.in, c.out, c.overwrite);
  SavedModel saved = load_saved_model(c.in);
  // The model alone: a training checkpoint's position and optimizer state stay behind.
  Metadata metadata = model_metadata(saved.options, saved.source_vocab, saved.target_vocab, saved.task);
  std::string what;
  if (c.dtype == "int8") {
    saved.int8.reset();  // an int8 input is read as its float model and quantized again
    const QuantizeOptions options{.per_channel = !c.per_tensor,
                                  .embeddings = c.embeddings,
                                  .activations = c.activations == "per_tensor" ? ActivationQuantization::per_tensor
                                                                               : ActivationQuantization::per_row};
    const std::unique_ptr<QuantizedWeights> int8 = quantize_dynamic(*saved.model, options);
    std::size_t quantized = 0;
    for (const NamedVar& p : quantizable_weights(*saved.model, c.embeddings)) quantized += p.var.size();
    save_quantized_checkpoint(*saved.model, *int8, c.out, metadata);
    what =
        fmt::format("{} weights ({} of {} parameters) in int8 with {} scales, activations quantized {}", int8->size(),
                    quantized, saved.model->parameter_count(), c.per_tensor ? "per-tensor" : "per-channel",
                    c.activations == "per_tensor" ? "per tensor" : "per row");
  } else {
    const SafetensorsDType dtype = c.dtype == "f16" ? SafetensorsDType::f16 : SafetensorsDType::bf16;
    save_checkpoint(*saved.model, c.out, metadata, dtype);
    what = fmt::format("{} parameters in {}", saved.model->parameter_count(), safetensors_dtype_name(dtype));
  }
  const std::uintmax_t before = fs::file_size(c.in), after = fs::file_size(c.out);
  fmt::print("{}: {}; {} ({:.0f}% of {}'s {})\n", c.out, what, megabytes(after), 100.0 * double(after) / double(before),
             c.in, megabytes(before));
}

}  // namespace

void add_quantize_command(CLI::App& app) {
  auto config = std::make_shared<QuantizeConfig>();
  CLI::App* c = app.add_subcommand(
      "quantize", "write a saved model with int8 weights (dynamic quantization) or in float16/bfloat16");
  c->add_option("in", config->in, "a model saved by tapegrad train (or quantize)")
      ->required()
      ->check(CLI::ExistingFile);
  c->add_option("out", config->out, "the file to write")->required();
  c->add_option("--dtype", config->dtype,
                "int8: weights of products in int8, decoded with int8 products; f16, bf16: every parameter "
                "rounded to half precision on disk, read back as float32")
      ->check(CLI::IsMember({"int8", "f16", "bf16"}))
      ->capture_default_str();
  c->add_flag("--per-tensor", config->per_tensor, "int8: one scale per weight instead of one per output channel");
  c->add_flag("--embeddings", config->embeddings, "int8: also the embedding tables (one scale per row)");
  c->add_option("--activations", config->activations,
                "int8: quantize activations per row, or per tensor as PyTorch's quantize_dynamic")
      ->check(CLI::IsMember({"per_row", "per_tensor"}))
      ->capture_default_str();
  c->add_flag("--overwrite", config->overwrite, "replace OUT if it exists");
  c->callback([config]() {
    if (config->dtype != "int8" && (config->per_tensor || config->embeddings || config->activations != "per_row")) {
      throw Error("quantize: --per-tensor, --embeddings and --activations apply to --dtype int8 only");
    }
    run_quantize(*config);
  });
}

}  // namespace tg::cli
