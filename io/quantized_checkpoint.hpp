#pragma once
/// Checkpoints of quantized models (docs/compression.md), plain safetensors that
/// any reader opens. A weight with an int8 copy (models/quantize.hpp) is stored as
///   "<name>"        I8  [out, in]     its int8 values
///   "<name>.scale"  F32 [out] or [1]  its scales: per output row, or one
/// (value = scale * int8), every other parameter as F32, and the metadata key
/// "tapegrad.quantization" says how the activations are quantized:
///   {"weights": "int8", "scales": "per_channel", "activations": "per_row"}
/// load_checkpoint reads such a file as the float model it stands for (each
/// weight dequantized), so it loads wherever a checkpoint does; decoders add
/// the int8 copies with load_int8_weights.

#include <filesystem>
#include <map>
#include <memory>
#include <string>

#include "tapegrad/io/safetensors.hpp"
#include "tapegrad/kernels/int8_gemm.hpp"
#include "tapegrad/models/module.hpp"
#include "tapegrad/ops/quantized_weights.hpp"

namespace tg {

inline constexpr const char* kQuantizationKey = "tapegrad.quantization";

/// Writes m's parameters to `path` atomically: those with an int8 copy in
/// `int8` as I8 values and F32 scales, the others as F32; `metadata` plus the
/// quantization key. Throws Error when a weight's copy no longer fits it.
void save_quantized_checkpoint(const Module& m, const QuantizedWeights& int8, const std::filesystem::path& path,
                               Metadata metadata = {});

/// Replaces each I8 tensor of `file` and its scales by the float32 weight they
/// stand for, and returns their int8 copies by name. FormatError naming the file
/// and the tensor for an I8 tensor that is not a matrix, has no scales, or whose
/// scales are not F32 [out] or [1] of finite positive values.
std::map<std::string, Int8Matrix> dequantize_tensors(SafetensorsFile& file);

/// How the file at `path` (its metadata) quantizes activations; FormatError
/// naming the file for a quantization key it does not understand.
ActivationQuantization activation_quantization(const Metadata& metadata, const std::string& source);

/// The int8 copies of m's weights stored in `path`, for decoding with m once
/// load_checkpoint has loaded it from the same file; null when the file holds
/// none. Throws as load_safetensors and dequantize_tensors do.
std::unique_ptr<QuantizedWeights> load_int8_weights(const Module& m, const std::filesystem::path& path);

}  // namespace tg
