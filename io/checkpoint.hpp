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

#include "tapegrad/io/safetensors.hpp"
#include "tapegrad/models/module.hpp"

namespace tg {

/// The file is well formed but does not fit the model (missing or unexpected
/// keys, dtype or shape mismatch); the message names the file and each key.
struct CheckpointError : Error {
  using Error::Error;
};

/// Writes m's state dict (float32 or float64, as the parameters are) and
/// `metadata` to `path`, atomically.
void save_checkpoint(const Module& m, const std::filesystem::path& path, const Metadata& metadata = {});

/// Loads `path` into m's parameters, all or nothing. F16 and BF16 tensors are
/// widened to float32 first; dtypes must then equal the parameters' (an I64
/// tensor never fits a parameter). strict: a missing or unexpected key is an
/// error; otherwise they are returned. Throws FormatError for a malformed
/// file, CheckpointError when it does not fit, FileError when it cannot be read.
LoadResult load_checkpoint(Module& m, const std::filesystem::path& path, bool strict = true);

}  // namespace tg
