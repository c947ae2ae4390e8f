#include "tapegrad/io/quantized_checkpoint.hpp"

#include <algorithm>
#include <unordered_map>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

namespace tg {
namespace {

[[noreturn]] void malformed(const std::string& source, const std::string& what) {
  throw FormatError(fmt::format("quantized checkpoint '{}': {}", source, what));
}

const char* activations_name(ActivationQuantization a) {
  return a == ActivationQuantization::per_row ? "per_row" : "per_tensor";
}

}  // namespace

void save_quantized_checkpoint(const Module& m, const QuantizedWeights& int8, const std::filesystem::path& path,
                               Metadata metadata) {
  std::vector<SafetensorsTensor> tensors;
  bool per_channel = true;
  for (const NamedVar& p : m.named_parameters()) {
    const Int8Matrix* q = int8.find(p.var);
    if (q == nullptr) {
      tensors.push_back({p.name, p.var.value()});
      continue;
    }
    if (p.var.shape() != Shape{q->rows, q->cols}) {
      throw Error(fmt::format("save_quantized_checkpoint: '{}' is {} but its int8 copy is [{}, {}]", p.name,
                              shape_str(p.var.shape()), q->rows, q->cols));
    }
    per_channel = per_channel && q->scales.size() == q->rows;
    Indices values = Indices::from_shape(Shape{q->rows, q->cols});
    std::copy(q->values.begin(), q->values.end(), values.data());
    tensors.push_back({p.name, std::move(values), SafetensorsDType::i8});
    Tensor scales = Tensor::empty(Shape{q->scales.size()}, DType::f32);
    std::copy(q->scales.begin(), q->scales.end(), scales.array<float>().data());
    tensors.push_back({p.name + ".scale", std::move(scales)});
  }
  metadata[kQuantizationKey] = nlohmann::json{{"weights", "int8"},
                                              {"scales", per_channel ? "per_channel" : "per_tensor"},
                                              {"activations", activations_name(int8.activations())}}
                                   .dump();
  save_safetensors(path, tensors, metadata);
}

std::map<std::string, Int8Matrix> dequantize_tensors(SafetensorsFile& file) {
  std::unordered_map<std::string, std::size_t> index;
  for (std::size_t i = 0; i < file.tensors.size(); ++i) index.emplace(file.tensors[i].name, i);
  std::map<std::string, Int8Matrix> copies;
  std::vector<std::size_t> scale_entries;
  for (std::size_t i = 0; i < file.header.tensors.size(); ++i) {
    const SafetensorsEntry& entry = file.header.tensors[i];
    if (entry.dtype != SafetensorsDType::i8) continue;
    const std::string& name = entry.name;
    if (entry.shape.size() != 2) {
      malformed(file.source, fmt::format("I8 tensor '{}' is [{}]; int8 weights are matrices [out, in]", name,
                                         fmt::join(entry.shape, ", ")));
    }
    const std::string scale_name = name + ".scale";
    auto it = index.find(scale_name);
    if (it == index.end()) {
      malformed(file.source, fmt::format("I8 tensor '{}' has no scales: the file holds no '{}'", name, scale_name));
    }
    const std::size_t rows = entry.shape[0], cols = entry.shape[1];
    const SafetensorsEntry& scale_entry = file.header.tensors[it->second];
    const Tensor* scales = std::get_if<Tensor>(&file.tensors[it->second].value);
    if (scales == nullptr || scale_entry.dtype != SafetensorsDType::f32 || scales->dim() != 1 ||
        (scales->size() != rows && scales->size() != 1)) {
      malformed(file.source,
                fmt::format("'{}' must be F32 [{}] (one scale per row of '{}') or [1], not {} [{}]", scale_name, rows,
                            name, safetensors_dtype_name(scale_entry.dtype), fmt::join(scale_entry.shape, ", ")));
    }
    const Indices& stored = std::get<Indices>(file.tensors[i].value);
    std::vector<std::int8_t> values(stored.begin(), stored.end());
    const float* s = scales->array<float>().data();
    Int8Matrix q;
    try {
      q = int8_matrix(std::move(values), std::vector<float>(s, s + scales->size()), rows, cols, scale_name.c_str());
    } catch (const Error& e) {
      malformed(file.source, e.what());
    }
    Tensor weight = Tensor::empty(Shape{rows, cols}, DType::f32);
    dequantize(q, weight.array<float>().data());
    file.tensors[i].value = std::move(weight);
    copies.emplace(name, std::move(q));
    scale_entries.push_back(it->second);
  }
  // The scales are part of their weights now: drop them, last first so the indices hold.
  std::sort(scale_entries.rbegin(), scale_entries.rend());
  for (std::size_t i : scale_entries) {
    file.tensors.erase(file.tensors.begin() + static_cast<std::ptrdiff_t>(i));
    file.header.tensors.erase(file.header.tensors.begin() + static_cast<std::ptrdiff_t>(i));
  }
  return copies;
}

ActivationQuantization activation_quantization(const Metadata& metadata, const std::string& source) {
  auto it = metadata.find(kQuantizationKey);
  if (it == metadata.end()) return ActivationQuantization::per_row;
  const nlohmann::json scheme = nlohmann::json::parse(it->second, nullptr, false);
  const std::string activations =
      scheme.is_object() && scheme.contains("activations") && scheme["activations"].is_string()
          ? scheme["activations"].get<std::string>()
          : std::string();
  if (activations == "per_row") return ActivationQuantization::per_row;
  if (activations == "per_tensor") return ActivationQuantization::per_tensor;
  malformed(source, fmt::format("metadata '{}' is {}; its \"activations\" must be \"per_row\" or \"per_tensor\"",
                                kQuantizationKey, it->second));
}

std::unique_ptr<QuantizedWeights> load_int8_weights(const Module& m, const std::filesystem::path& path) {
  SafetensorsFile file = load_safetensors(path);
  std::map<std::string, Int8Matrix> copies = dequantize_tensors(file);
  if (copies.empty()) return nullptr;
  auto int8 = std::make_unique<QuantizedWeights>(activation_quantization(file.header.metadata, file.source));
  for (const NamedVar& p : m.named_parameters()) {
    auto it = copies.find(p.name);
    if (it != copies.end()) int8->add(p.var, std::move(it->second));
  }
  return int8;
}

}  // namespace tg
