#pragma once
/// Checkpoints: a Module's state dict in a safetensors file, under the
/// module's full dotted names (PyTorch's state-dict keys), so a model trained
/// in PyTorch loads here and one trained here loads in PyTorch.
///
///   tg::save_checkpoint(model, "model.safetensors", {{"step", "1000"}});
///   tg::load_checkpoint(model, "model.safetensors");  // all or nothing
///
/// Saves are atomic (io/safetensors.hpp); loads check the whole file and every
/// key, dtype and shape against the model before any parameter changes.

#include <filesystem>
#include <optional>

#include "tapegrad/io/safetensors.hpp"
#include "tapegrad/models/module.hpp"

namespace tg {

/// The file is well formed but does not fit the model (missing or unexpected
/// keys, dtype or shape mismatch); the message names the file and each key.
struct CheckpointError : Error {
  using Error::Error;
};

/// Writes m's state dict (float32 or float64, as the parameters are, or every
/// parameter as `stored_as`: F16 or BF16 for half the bytes of F32) and
/// `metadata` to `path`, atomically.
void save_checkpoint(const Module& m, const std::filesystem::path& path, const Metadata& metadata = {},
                     std::optional<SafetensorsDType> stored_as = std::nullopt);

/// Loads `path` into m's parameters, all or nothing. Float tensors (F16, BF16,
/// F32, F64) are converted to their parameters' dtype, unless
/// options.strict_dtype asks for the same dtype; an integer tensor (I64, BOOL)
/// never fits a parameter. options.strict: a missing or unexpected key is an
/// error; otherwise they are returned. Throws FormatError for a malformed
/// file, CheckpointError when it does not fit, FileError when it cannot be read.
LoadResult load_checkpoint(Module& m, const std::filesystem::path& path, const LoadOptions& options = {});

/// m's state dict taken out of a file that holds other tensors too (inputs,
/// expected outputs, another model's weights): for each of m's parameters, the
/// file's tensor named `prefix` + its name, under the parameter's name; the
/// file's other tensors are left out. Load it with m.load_state_dict, which
/// converts dtypes as LoadOptions says. CheckpointError naming the file and
/// listing every parameter whose tensor is missing or holds integers.
StateDict state_dict_for(const Module& m, const SafetensorsFile& file, std::string_view prefix = "");

}  // namespace tg
