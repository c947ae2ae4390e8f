#include "tapegrad/io/checkpoint.hpp"

#include "tapegrad/io/quantized_checkpoint.hpp"

#include <unordered_map>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace tg {

void save_checkpoint(const Module& m, const std::filesystem::path& path, const Metadata& metadata,
                     std::optional<SafetensorsDType> stored_as) {
  std::vector<SafetensorsTensor> tensors;
  for (NamedTensor& entry : m.state_dict()) {
    tensors.push_back({std::move(entry.name), std::move(entry.value), stored_as});
  }
  save_safetensors(path, tensors, metadata);
}

LoadResult load_checkpoint(Module& m, const std::filesystem::path& path, const LoadOptions& options) {
  SafetensorsFile file = load_safetensors(path);
  dequantize_tensors(file);  // a quantized model loads as the float model it stands for

  // Every key against the model first, with the rule each one breaks, so the
  // message is about the file; load_state_dict then copies the values.
  std::unordered_map<std::string, const Var*> params;
  const std::vector<NamedVar> named = m.named_parameters();
  for (const NamedVar& p : named) params.emplace(p.name, &p.var);
  std::unordered_map<std::string, const SafetensorsEntry*> stored;
  for (const SafetensorsEntry& e : file.header.tensors) stored.emplace(e.name, &e);

  LoadResult result;
  std::vector<std::string> dtype_mismatch, shape_mismatch;
  StateDict state;
  for (SafetensorsTensor& t : file.tensors) {
    auto it = params.find(t.name);
    if (it == params.end()) {
      result.unexpected_keys.push_back(t.name);
      continue;
    }
    const Var& param = *it->second;
    const SafetensorsEntry& entry = *stored.at(t.name);
    const Shape file_shape(entry.shape.begin(), entry.shape.end());
    const Tensor* value = std::get_if<Tensor>(&t.value);
    if (value == nullptr || (options.strict_dtype && value->dtype() != param.dtype())) {
      const bool widened = entry.dtype == SafetensorsDType::f16 || entry.dtype == SafetensorsDType::bf16;
      dtype_mismatch.push_back(fmt::format("'{}' is {}{} in the file, {} in the model", t.name,
                                           safetensors_dtype_name(entry.dtype), widened ? " (read as float32)" : "",
                                           dtype_name(param.dtype())));
    } else if (file_shape != param.shape()) {
      shape_mismatch.push_back(fmt::format("'{}' is {} in the file, {} in the model", t.name, shape_str(file_shape),
                                           shape_str(param.shape())));
    } else {
      state.push_back({t.name, std::move(*std::get_if<Tensor>(&t.value))});
    }
  }
  for (const NamedVar& p : named) {
    if (stored.count(p.name) == 0) result.missing_keys.push_back(p.name);
  }

  std::vector<std::string> problems;
  if (options.strict && !result.missing_keys.empty()) {
    problems.push_back(
        fmt::format("missing keys (in the model, not in the file): {}", fmt::join(result.missing_keys, ", ")));
  }
  if (options.strict && !result.unexpected_keys.empty()) {
    problems.push_back(
        fmt::format("unexpected keys (in the file, not in the model): {}", fmt::join(result.unexpected_keys, ", ")));
  }
  if (!dtype_mismatch.empty()) problems.push_back(fmt::format("dtype mismatch: {}", fmt::join(dtype_mismatch, "; ")));
  if (!shape_mismatch.empty()) problems.push_back(fmt::format("shape mismatch: {}", fmt::join(shape_mismatch, "; ")));
  if (!problems.empty()) {
    throw CheckpointError(fmt::format("checkpoint '{}' does not fit {}: {}; nothing was loaded", path.string(),
                                      m.type_name(), fmt::join(problems, "; ")));
  }
  m.load_state_dict(state, {.strict = false});
  return result;
}

StateDict state_dict_for(const Module& m, const SafetensorsFile& file, std::string_view prefix) {
  std::unordered_map<std::string_view, const SafetensorsTensor*> by_name;
  for (const SafetensorsTensor& t : file.tensors) by_name.emplace(t.name, &t);
  StateDict state;
  std::vector<std::string> missing, integers;
  for (const NamedVar& p : m.named_parameters()) {
    const std::string stored = fmt::format("{}{}", prefix, p.name);
    auto it = by_name.find(stored);
    if (it == by_name.end()) {
      missing.push_back(stored);
    } else if (const Tensor* value = std::get_if<Tensor>(&it->second->value)) {
      state.push_back({p.name, *value});
    } else {
      integers.push_back(stored);
    }
  }
  std::vector<std::string> problems;
  if (!missing.empty()) problems.push_back(fmt::format("no tensor named {}", fmt::join(missing, ", ")));
  if (!integers.empty()) problems.push_back(fmt::format("integer tensors under {}", fmt::join(integers, ", ")));
  if (!problems.empty()) {
    throw CheckpointError(fmt::format("'{}' does not hold {}'s state dict under the prefix '{}': {}", file.source,
                                      m.type_name(), prefix, fmt::join(problems, "; ")));
  }
  return state;
}

}  // namespace tg
