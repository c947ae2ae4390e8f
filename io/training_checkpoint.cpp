#include "tapegrad/io/training_checkpoint.hpp"

#include <set>

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace tg {

namespace {

constexpr char kSeparator = '/';

}  // namespace

void save_training_checkpoint(const std::filesystem::path& path, const Module& model, const NamedStates& states,
                              const Metadata& metadata) {
  std::vector<SafetensorsTensor> tensors;
  for (NamedTensor& entry : model.state_dict()) tensors.push_back({std::move(entry.name), std::move(entry.value)});
  for (const auto& [state_name, state] : states) {
    if (state_name.empty() || state_name.find(kSeparator) != std::string::npos) {
      throw Error(fmt::format("save_training_checkpoint '{}': state name '{}' must be non-empty and free of '{}'",
                              path.string(), state_name, kSeparator));
    }
    for (const auto& [key, value] : state) tensors.push_back({state_name + kSeparator + key, value});
  }
  save_safetensors(path, tensors, metadata);
}

TrainingCheckpoint load_training_checkpoint(const std::filesystem::path& path, Module& model) {
  // Names first, from the header, so that nothing is loaded into a model the
  // file does not fit; load_checkpoint then checks dtypes and shapes (all or
  // nothing) and copies the parameters.
  const SafetensorsHeader header = read_safetensors_header(path);
  std::set<std::string> model_keys;
  for (const NamedVar& p : model.named_parameters()) model_keys.insert(p.name);
  std::vector<std::string> missing, unknown;
  std::set<std::string> stored;
  for (const SafetensorsEntry& e : header.tensors) {
    stored.insert(e.name);
    if (e.name.find(kSeparator) == std::string::npos && model_keys.count(e.name) == 0) unknown.push_back(e.name);
  }
  for (const std::string& key : model_keys) {
    if (stored.count(key) == 0) missing.push_back(key);
  }
  if (!missing.empty() || !unknown.empty()) {
    throw CheckpointError(fmt::format(
        "training checkpoint '{}' does not fit {}: missing keys (in the model, not in the file) [{}], unexpected "
        "keys (in the file, not in the model) [{}]; nothing was loaded",
        path.string(), model.type_name(), fmt::join(missing, ", "), fmt::join(unknown, ", ")));
  }
  load_checkpoint(model, path, {.strict = false});
  SafetensorsFile file = load_safetensors(path);
  TrainingCheckpoint checkpoint;
  checkpoint.metadata = file.header.metadata;
  for (SafetensorsTensor& t : file.tensors) {
    const std::size_t cut = t.name.find(kSeparator);
    if (cut == std::string::npos) continue;
    const Tensor* value = std::get_if<Tensor>(&t.value);
    if (value == nullptr) {
      throw CheckpointError(fmt::format("training checkpoint '{}': '{}' holds integers; states hold float tensors",
                                        path.string(), t.name));
    }
    checkpoint.states[t.name.substr(0, cut)][t.name.substr(cut + 1)] = *value;
  }
  return checkpoint;
}

Metadata read_checkpoint_metadata(const std::filesystem::path& path) { return read_safetensors_header(path).metadata; }

}  // namespace tg
