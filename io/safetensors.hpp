#pragma once
/// The safetensors file format (https://github.com/huggingface/safetensors),
/// read and written over tg::Tensor and tg::Indices. Knows nothing of modules
/// (io/checkpoint.hpp saves and loads those).
///
/// Layout: an 8-byte little-endian u64 N, then N bytes of UTF-8 JSON
///   {"name": {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}, ...,
///    "__metadata__": {"key": "value", ...}}
/// then the data buffer; offsets count from the buffer's first byte.
///
/// Reading checks every rule of the format (see docs/checkpoints.md) before it
/// allocates anything from a size in the file, and throws FormatError naming
/// the file, the rule, the tensor and the byte offset where they apply.
/// Writing is atomic: a crash or an error never leaves a partial file under
/// the target's name.

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "tapegrad/autodiff/tensor.hpp"
#include "tapegrad/base/error.hpp"
#include "tapegrad/base/file.hpp"

namespace tg {

/// Element types tapegrad reads. F16 and BF16 are widened to float32 on read;
/// BOOL (one byte, 0 or 1, as PyTorch writes a mask) and I8 (int8 weights,
/// io/quantized_checkpoint.hpp) are read as int64 values. The writer stores
/// F32, F64 and I64, or what a tensor's `stored_as` asks for.
enum class SafetensorsDType : std::uint8_t { f16, bf16, f32, f64, i64, boolean, i8 };
/// "F32": the name the format uses.
const char* safetensors_dtype_name(SafetensorsDType dtype);
/// Bytes per element.
std::size_t safetensors_dtype_size(SafetensorsDType dtype);

/// String metadata, the header's "__metadata__" object.
using Metadata = std::map<std::string, std::string>;

/// One tensor's entry in a header.
struct SafetensorsEntry {
  std::string name;
  SafetensorsDType dtype = SafetensorsDType::f32;
  std::vector<std::uint64_t> shape;
  std::uint64_t begin = 0;     ///< first byte, relative to the data buffer
  std::uint64_t end = 0;       ///< one past the last byte, relative to the data buffer
  std::uint64_t elements = 0;  ///< product of shape (1 for a scalar)
};

/// A checked header: every rule holds against the file's size.
struct SafetensorsHeader {
  std::vector<SafetensorsEntry> tensors;  ///< in data-buffer order (by offset)
  Metadata metadata;
  std::uint64_t header_bytes = 0;  ///< N, the JSON header's length
  std::uint64_t data_bytes = 0;    ///< the data buffer's length
};

/// A tensor by name: float32/float64 values, or int64 indices (I64, BOOL and I8).
struct SafetensorsTensor {
  std::string name;
  std::variant<Tensor, Indices> value;
  /// What the writer stores, when not the value's own dtype: F16 or BF16 for
  /// floats (rounded to nearest even through float32: half the bytes of F32),
  /// I8 or BOOL for indices (each value must fit). The reader leaves it empty.
  std::optional<SafetensorsDType> stored_as = std::nullopt;
};

/// A whole file: its header (stored dtypes, shapes, offsets, metadata) and the
/// tensors in the same order (F16/BF16 already widened to float32).
struct SafetensorsFile {
  SafetensorsHeader header;
  std::vector<SafetensorsTensor> tensors;
  std::string source;  ///< the path it was read from (parse's `source`), for messages

  /// The tensor named `name`; Error naming the file and the name, and listing the names it holds.
  const SafetensorsTensor& at(std::string_view name) const;
};

/// A rank-1 integer tensor (I64 or BOOL) as sequence lengths, each at least 0. Error naming
/// the tensor and its dtype or rank, or the first negative entry and its index.
std::vector<std::int64_t> lengths_from(const SafetensorsTensor& tensor);
/// An integer tensor of 0s and 1s (BOOL, or I64 as PyTorch's long masks) as a Mask of the same
/// shape, 1 true. Error naming the tensor and the first other value with its position.
Mask mask_from(const SafetensorsTensor& tensor);

/// Headers longer than this are refused before they are read (the reference
/// implementation's limit).
inline constexpr std::uint64_t safetensors_max_header_bytes = 100'000'000;

/// Parses and checks a whole file held in memory. `source` names it in errors.
SafetensorsFile parse_safetensors(std::span<const std::uint8_t> bytes, const std::string& source = "<memory>");
/// Reads and checks a file.
SafetensorsFile load_safetensors(const std::filesystem::path& path);
/// Reads and checks only the header of a file (against the file's size): what
/// `tapegrad inspect` shows, without reading the data.
SafetensorsHeader read_safetensors_header(const std::filesystem::path& path);

/// The bytes of a file holding `tensors` in order, and `metadata` (omitted
/// when empty). Names must be unique and not "__metadata__"; tensors defined.
std::vector<std::uint8_t> serialize_safetensors(const std::vector<SafetensorsTensor>& tensors,
                                                const Metadata& metadata = {});
/// Writes serialize_safetensors's bytes to `path` atomically: a temporary file
/// in the same folder is written, synced and renamed over `path`, then the
/// folder is synced. On an error the temporary is removed, a file already at
/// `path` is untouched, and FileError names the file.
void save_safetensors(const std::filesystem::path& path, const std::vector<SafetensorsTensor>& tensors,
                      const Metadata& metadata = {});

/// float32 value of an IEEE half (F16) bit pattern; subnormals, infinities and
/// NaNs included.
float half_to_float(std::uint16_t bits);
/// float32 value of a bfloat16 (BF16) bit pattern.
float bfloat16_to_float(std::uint16_t bits);
/// The IEEE half nearest to x (ties to even): subnormals, infinities and NaNs
/// kept, values beyond 65504 rounded to infinity as IEEE rounding does.
std::uint16_t float_to_half(float x);
/// The bfloat16 nearest to x (ties to even); NaNs stay NaNs.
std::uint16_t float_to_bfloat16(float x);

}  // namespace tg
