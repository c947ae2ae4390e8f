#pragma once
/// Training checkpoints: everything a run needs to continue exactly where it
/// stopped, in one safetensors file.
///
///   tg::save_training_checkpoint(path, model,
///       {{"optimizer", adam.state_dict()}, {"schedule", schedule.state_dict()}},
///       {{"step", "1200"}, {"generator", tg::default_generator().state()}});
///   tg::TrainingCheckpoint ckpt = tg::load_training_checkpoint(path, model);
///   adam.load_state_dict(ckpt.states.at("optimizer"));
///
/// The model's parameters are stored under their own dotted names, so the file
/// is also a plain checkpoint (load_checkpoint(..., strict = false), or
/// torch's load_state_dict(strict=False)); each named state's tensors are
/// stored as "<state>/<key>" ('/' never occurs in a parameter name). Strings
/// (vocabularies, the configuration, generator states, the position in the
/// data) go into the metadata. Saves are atomic, as every safetensors save.

#include <filesystem>
#include <map>
#include <string>

#include "tapegrad/io/checkpoint.hpp"

namespace tg {

/// State dicts beside the model's, by name: "optimizer" -> its state_dict(), ...
using NamedStates = std::map<std::string, std::map<std::string, Tensor>>;

/// What load_training_checkpoint returns besides the model it loaded.
struct TrainingCheckpoint {
  NamedStates states;  ///< by the names they were saved under
  Metadata metadata;   ///< the strings saved with them
};

/// Writes the model's parameters, `states` and `metadata` to `path`, atomically
/// (a file already at `path` is replaced only by a complete new one). State
/// names must be non-empty and free of '/'; throws Error otherwise.
void save_training_checkpoint(const std::filesystem::path& path, const Module& model, const NamedStates& states,
                              const Metadata& metadata = {});

/// Reads `path`, loads the model's parameters (strict: every parameter present
/// with its dtype and shape, no unknown key outside the named states; all or
/// nothing) and returns the named states and the metadata for the caller to
/// hand to its optimizer and schedules. Throws FileError, FormatError or
/// CheckpointError naming the file and the key.
TrainingCheckpoint load_training_checkpoint(const std::filesystem::path& path, Module& model);

/// Reads only the metadata of a checkpoint (no tensor data), for example to
/// rebuild the model's configuration before loading it.
Metadata read_checkpoint_metadata(const std::filesystem::path& path);

}  // namespace tg
