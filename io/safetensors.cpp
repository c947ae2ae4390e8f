#include "tapegrad/io/safetensors.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <functional>
#include <limits>
#include <memory>
#include <optional>
#include <set>
#include <utility>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>
#include <xtensor/xstrides.hpp>

#include "tapegrad/base/file.hpp"
#include "tapegrad/base/utf8.hpp"

namespace tg {

// The format is little-endian; tensors are copied to and from it byte for byte.
static_assert(std::endian::native == std::endian::little, "io/safetensors.cpp assumes a little-endian host");

const char* safetensors_dtype_name(SafetensorsDType dtype) {
  switch (dtype) {
    case SafetensorsDType::f16:
      return "F16";
    case SafetensorsDType::bf16:
      return "BF16";
    case SafetensorsDType::f32:
      return "F32";
    case SafetensorsDType::f64:
      return "F64";
    case SafetensorsDType::i64:
      return "I64";
    case SafetensorsDType::boolean:
      return "BOOL";
    case SafetensorsDType::i8:
      return "I8";
  }
  return "?";
}

std::size_t safetensors_dtype_size(SafetensorsDType dtype) {
  switch (dtype) {
    case SafetensorsDType::f16:
    case SafetensorsDType::bf16:
      return 2;
    case SafetensorsDType::f32:
      return 4;
    case SafetensorsDType::f64:
    case SafetensorsDType::i64:
      return 8;
    case SafetensorsDType::boolean:
    case SafetensorsDType::i8:
      return 1;
  }
  return 0;
}

float half_to_float(std::uint16_t bits) {
  const std::uint32_t sign = static_cast<std::uint32_t>(bits & 0x8000u) << 16;
  const std::uint32_t exponent = (bits >> 10) & 0x1fu;
  const std::uint32_t mantissa = bits & 0x3ffu;
  if (exponent == 0) {
    // Zero or subnormal: mantissa * 2^-24, exact in float32.
    float magnitude = static_cast<float>(mantissa) * 0x1p-24f;
    return sign != 0 ? -magnitude : magnitude;
  }
  // Infinity and NaN keep their payload; normal numbers rebias 15 -> 127.
  const std::uint32_t wide_exponent = exponent == 0x1fu ? 0xffu : exponent + (127 - 15);
  return std::bit_cast<float>(sign | (wide_exponent << 23) | (mantissa << 13));
}

float bfloat16_to_float(std::uint16_t bits) { return std::bit_cast<float>(static_cast<std::uint32_t>(bits) << 16); }

std::uint16_t float_to_half(float x) {
  const std::uint32_t bits = std::bit_cast<std::uint32_t>(x);
  const auto sign = static_cast<std::uint16_t>((bits >> 16) & 0x8000u);
  const std::uint32_t magnitude = bits & 0x7fffffffu;
  if (magnitude >= 0x7f800000u) {  // infinity, or NaN with its payload's top bits and the quiet bit
    return static_cast<std::uint16_t>(sign | 0x7c00u |
                                      (magnitude > 0x7f800000u ? 0x200u | ((magnitude >> 13) & 0x3ffu) : 0u));
  }
  if (magnitude >= 0x477ff000u) return sign | 0x7c00u;  // 65520 and above round to infinity
  if (magnitude < 0x38800000u) {
    // Below the smallest normal half (2^-14): a multiple of 2^-24, rounded by the float addition
    // of 0.5 (2^-1 has 2^-24 as its last mantissa bit, so the sum rounds to nearest even there).
    const float rounded = std::bit_cast<float>(magnitude) + 0.5f;
    return static_cast<std::uint16_t>(sign | (std::bit_cast<std::uint32_t>(rounded) - 0x3f000000u));
  }
  // Normal: rebias 127 -> 15 and drop 13 mantissa bits, rounding to nearest even (a carry into
  // the exponent is the right result).
  const std::uint32_t odd = (magnitude >> 13) & 1u;
  return static_cast<std::uint16_t>(sign | ((magnitude - 0x38000000u + 0xfffu + odd) >> 13));
}

std::uint16_t float_to_bfloat16(float x) {
  const std::uint32_t bits = std::bit_cast<std::uint32_t>(x);
  if ((bits & 0x7fffffffu) > 0x7f800000u) return static_cast<std::uint16_t>((bits >> 16) | 0x40u);  // quiet NaN
  const std::uint32_t odd = (bits >> 16) & 1u;
  return static_cast<std::uint16_t>((bits + 0x7fffu + odd) >> 16);
}

namespace {

using json = nlohmann::json;

[[noreturn]] void malformed(const std::string& source, const std::string& what) {
  throw FormatError(fmt::format("safetensors file '{}': {}", source, what));
}

std::uint64_t read_u64_le(const std::uint8_t* p) {
  std::uint64_t value = 0;
  for (int i = 7; i >= 0; --i) value = (value << 8) | p[i];
  return value;
}

// The 8-byte length N against the file's size; returns N.
std::uint64_t check_header_length(const std::uint8_t* prefix, std::uint64_t file_bytes, const std::string& source) {
  const std::uint64_t n = read_u64_le(prefix);
  if (n > safetensors_max_header_bytes) {
    malformed(source,
              fmt::format("header length {} is over the limit of {} bytes (100 MB)", n, safetensors_max_header_bytes));
  }
  if (n > file_bytes - 8) {
    malformed(source, fmt::format("header length {} runs past the end of the file ({} bytes, so at most {} "
                                  "header bytes after the 8-byte length)",
                                  n, file_bytes, file_bytes - 8));
  }
  return n;
}

void check_file_length(std::uint64_t file_bytes, const std::string& source) {
  if (file_bytes < 8) {
    malformed(source, fmt::format("file is {} bytes long, shorter than the 8-byte header length that starts "
                                  "every safetensors file",
                                  file_bytes));
  }
}

// Parses the header text, refusing duplicate keys (nlohmann would silently keep
// the last) and nesting deeper than the schema's three levels.
json parse_json(std::string_view text, const std::string& source) {
  struct Open {
    bool object = false;
    std::set<std::string> keys;
    std::string last_key;
  };
  std::vector<Open> open;
  // Inside an entry, names the entry: the top-level object's current key.
  auto where = [&]() -> std::string {
    if (open.size() < 2 || !open.front().object) return "";
    const std::string& entry = open.front().last_key;
    return entry == "__metadata__" ? "__metadata__: " : fmt::format("tensor '{}': ", entry);
  };
  json::parser_callback_t callback = [&](int, json::parse_event_t event, json& parsed) {
    switch (event) {
      case json::parse_event_t::object_start:
      case json::parse_event_t::array_start:
        if (open.size() >= 3) {
          malformed(source, fmt::format("header is not the safetensors schema: {}values nest deeper than "
                                        "{{name: {{\"shape\": [...]}}}} allows",
                                        where()));
        }
        open.push_back({event == json::parse_event_t::object_start, {}, {}});
        break;
      case json::parse_event_t::object_end:
      case json::parse_event_t::array_end:
        open.pop_back();
        break;
      case json::parse_event_t::key: {
        const std::string& key = parsed.get_ref<const std::string&>();
        if (!open.back().keys.insert(key).second) {
          if (open.size() == 1)
            malformed(source, fmt::format("duplicate name: tensor '{}' appears twice in the header", key));
          malformed(source, fmt::format("{}duplicate key '{}' in the header", where(), key));
        }
        open.back().last_key = key;
        break;
      }
      case json::parse_event_t::value:
        break;
    }
    return true;
  };
  try {
    return json::parse(text.begin(), text.end(), callback);
  } catch (const json::parse_error& e) {
    malformed(source, fmt::format("header is not valid JSON (near header byte {}, file byte offset {}): {}", e.byte,
                                  e.byte + 7, e.what()));
  } catch (const json::exception& e) {
    // A number too large for a double (1e999) is out_of_range, not a parse_error.
    malformed(source, fmt::format("header is not valid JSON: {}", e.what()));
  }
}

std::optional<SafetensorsDType> dtype_from_name(const std::string& name) {
  for (auto dtype : {SafetensorsDType::f16, SafetensorsDType::bf16, SafetensorsDType::f32, SafetensorsDType::f64,
                     SafetensorsDType::i64, SafetensorsDType::boolean, SafetensorsDType::i8}) {
    if (name == safetensors_dtype_name(dtype)) return dtype;
  }
  return std::nullopt;
}

std::string shape_text(const std::vector<std::uint64_t>& shape) { return fmt::format("[{}]", fmt::join(shape, ", ")); }

SafetensorsEntry check_entry(const std::string& name, const json& entry, std::uint64_t data_bytes,
                             std::uint64_t data_start, const std::string& source) {
  auto bad = [&](const std::string& what) { malformed(source, fmt::format("tensor '{}': {}", name, what)); };
  if (!entry.is_object())
    bad(fmt::format("header is not the safetensors schema: the entry is a JSON {}, not an object", entry.type_name()));
  for (const char* field : {"dtype", "shape", "data_offsets"}) {
    if (!entry.contains(field)) bad(fmt::format("header is not the safetensors schema: missing field '{}'", field));
  }
  for (const auto& item : entry.items()) {
    if (item.key() != "dtype" && item.key() != "shape" && item.key() != "data_offsets") {
      bad(fmt::format("header is not the safetensors schema: unexpected field '{}' (only dtype, shape, data_offsets)",
                      item.key()));
    }
  }
  SafetensorsEntry out;
  out.name = name;

  const json& dtype = entry.at("dtype");
  if (!dtype.is_string())
    bad(fmt::format("header is not the safetensors schema: dtype must be a string, got a JSON {}", dtype.type_name()));
  const std::string& dtype_text = dtype.get_ref<const std::string&>();
  auto known = dtype_from_name(dtype_text);
  if (!known) bad(fmt::format("unknown dtype '{}' (tapegrad reads F16, BF16, F32, F64, I64, BOOL)", dtype_text));
  out.dtype = *known;

  const json& shape = entry.at("shape");
  if (!shape.is_array()) bad("header is not the safetensors schema: shape must be a list of non-negative integers");
  for (const json& size : shape) {
    if (!size.is_number_unsigned()) {
      bad(fmt::format("header is not the safetensors schema: shape must be a list of non-negative integers, got {}",
                      shape.dump()));
    }
    out.shape.push_back(size.get<std::uint64_t>());
  }

  const json& offsets = entry.at("data_offsets");
  if (!offsets.is_array() || offsets.size() != 2 || !offsets[0].is_number_unsigned() ||
      !offsets[1].is_number_unsigned()) {
    bad(
        fmt::format("header is not the safetensors schema: data_offsets must be two non-negative integers "
                    "[begin, end], got {}",
                    offsets.dump()));
  }
  out.begin = offsets[0].get<std::uint64_t>();
  out.end = offsets[1].get<std::uint64_t>();

  // Checked products: a shape like [2^40, 2^40] must not wrap around. Zero
  // sizes are left out of the check, since strides multiply the other sizes
  // anyway (xtensor's are signed 64-bit: [0, 2^40, 2^40] would overflow them).
  std::int64_t product = 1;
  bool empty = false;
  for (std::uint64_t size : out.shape) {
    empty = empty || size == 0;
    if (size != 0 && (size > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()) ||
                      __builtin_mul_overflow(product, static_cast<std::int64_t>(size), &product))) {
      bad(fmt::format("element count overflow: the sizes of shape {} multiply past 2^63 - 1", shape_text(out.shape)));
    }
  }
  out.elements = empty ? 0 : static_cast<std::uint64_t>(product);
  std::uint64_t bytes = 0;
  if (__builtin_mul_overflow(out.elements, safetensors_dtype_size(out.dtype), &bytes)) {
    bad(fmt::format("element count overflow: {} {} needs more than 2^64 bytes", safetensors_dtype_name(out.dtype),
                    shape_text(out.shape)));
  }
  if (out.begin > out.end) {
    bad(fmt::format("data_offsets begin {} > end {} (file byte offsets {} and {})", out.begin, out.end,
                    data_start + out.begin, data_start + out.end));
  }
  if (out.end > data_bytes) {
    bad(
        fmt::format("data_offsets [{}, {}] out of range: the data buffer holds {} bytes (end at file byte offset "
                    "{}, the file ends at {})",
                    out.begin, out.end, data_bytes, data_start + out.end, data_start + data_bytes));
  }
  if (out.end - out.begin != bytes) {
    bad(
        fmt::format("byte count mismatch: data_offsets [{}, {}] hold {} bytes, but {} {} needs {} ({} elements "
                    "x {} bytes)",
                    out.begin, out.end, out.end - out.begin, safetensors_dtype_name(out.dtype), shape_text(out.shape),
                    bytes, out.elements, safetensors_dtype_size(out.dtype)));
  }
  return out;
}

Metadata check_metadata(const json& value, const std::string& source) {
  Metadata metadata;
  if (value.is_null()) return metadata;  // the reference reads null as "no metadata"
  if (!value.is_object()) {
    malformed(source, fmt::format("header is not the safetensors schema: __metadata__ must be an object of "
                                  "strings, got a JSON {}",
                                  value.type_name()));
  }
  for (const auto& item : value.items()) {
    if (!item.value().is_string()) {
      malformed(source, fmt::format("header is not the safetensors schema: __metadata__ '{}' must be a string, "
                                    "got a JSON {}",
                                    item.key(), item.value().type_name()));
    }
    metadata.emplace(item.key(), item.value().get<std::string>());
  }
  return metadata;
}

// Every rule of the header, against a data buffer of data_bytes.
SafetensorsHeader parse_header(std::string_view text, std::uint64_t data_bytes, const std::string& source) {
  const std::uint64_t data_start = 8 + text.size();
  if (auto problem = find_invalid_utf8(text)) {
    const std::size_t bad_byte = problem->offset;
    malformed(source, fmt::format("header is not UTF-8: invalid byte 0x{:02x} at header byte {} (file byte offset {})",
                                  static_cast<unsigned char>(text[bad_byte]), bad_byte, bad_byte + 8));
  }
  json root = parse_json(text, source);
  if (!root.is_object()) {
    malformed(source, fmt::format("header is not the safetensors schema: it must be a JSON object, got a JSON {}",
                                  root.type_name()));
  }
  SafetensorsHeader header;
  header.header_bytes = text.size();
  header.data_bytes = data_bytes;
  for (const auto& item : root.items()) {
    if (item.key() == "__metadata__") {
      header.metadata = check_metadata(item.value(), source);
    } else {
      header.tensors.push_back(check_entry(item.key(), item.value(), data_bytes, data_start, source));
    }
  }
  // In buffer order, the tensors must tile [0, data_bytes) exactly.
  std::stable_sort(header.tensors.begin(), header.tensors.end(),
                   [](const auto& a, const auto& b) { return std::pair(a.begin, a.end) < std::pair(b.begin, b.end); });
  std::uint64_t covered = 0;
  const SafetensorsEntry* previous = nullptr;
  for (const SafetensorsEntry& t : header.tensors) {
    if (t.begin < covered) {
      malformed(source, fmt::format("overlapping tensors: tensor '{}' (bytes [{}, {}) of the buffer) overlaps "
                                    "tensor '{}' (bytes [{}, {})) at file byte offset {}",
                                    t.name, t.begin, t.end, previous->name, previous->begin, previous->end,
                                    data_start + t.begin));
    }
    if (t.begin > covered) {
      malformed(source, fmt::format("gap in the data buffer: bytes [{}, {}) (file byte offset {}) belong to no "
                                    "tensor, before tensor '{}'",
                                    covered, t.begin, data_start + covered, t.name));
    }
    covered = t.end;
    previous = &t;
  }
  if (covered != data_bytes) {
    malformed(source, fmt::format("trailing bytes: the tensors cover {} bytes of the data buffer, but it holds {}; "
                                  "{} bytes from file byte offset {} belong to no tensor",
                                  covered, data_bytes, data_bytes - covered, data_start + covered));
  }
  return header;
}

// Builds each tensor from its bytes; read(dst, begin, n) copies n bytes of the
// data buffer starting at `begin`. Sizes are already checked against the file;
// a BOOL byte other than 0 or 1 is named with its file offset.
template <class Read>
std::vector<SafetensorsTensor> decode_tensors(const SafetensorsHeader& header, const std::string& source, Read&& read) {
  const std::uint64_t data_start = 8 + header.header_bytes;
  std::vector<SafetensorsTensor> out;
  out.reserve(header.tensors.size());
  for (const SafetensorsEntry& t : header.tensors) {
    const Shape shape(t.shape.begin(), t.shape.end());
    const std::size_t bytes = t.end - t.begin;
    switch (t.dtype) {
      case SafetensorsDType::f32:
      case SafetensorsDType::f64: {
        Tensor value = Tensor::empty(shape, t.dtype == SafetensorsDType::f32 ? DType::f32 : DType::f64);
        dispatch(value.dtype(), [&](auto zero) {
          using T = decltype(zero);
          read(value.array<T>().data(), t.begin, bytes);
        });
        out.push_back({t.name, std::move(value)});
        break;
      }
      case SafetensorsDType::i64: {
        Indices value = Indices::from_shape(shape);
        read(value.data(), t.begin, bytes);
        out.push_back({t.name, std::move(value)});
        break;
      }
      case SafetensorsDType::boolean: {
        std::vector<std::uint8_t> flags(t.elements);
        read(flags.data(), t.begin, bytes);
        Indices value = Indices::from_shape(shape);
        for (std::size_t i = 0; i < flags.size(); ++i) {
          if (flags[i] > 1) {
            malformed(source, fmt::format("tensor '{}': BOOL element {} is byte {} at file byte offset {}; a BOOL is "
                                          "0 or 1",
                                          t.name, i, flags[i], data_start + t.begin + i));
          }
          value.data()[i] = flags[i];
        }
        out.push_back({t.name, std::move(value)});
        break;
      }
      case SafetensorsDType::i8: {
        std::vector<std::int8_t> bytes_read(t.elements);
        read(bytes_read.data(), t.begin, bytes);
        Indices value = Indices::from_shape(shape);
        std::copy(bytes_read.begin(), bytes_read.end(), value.data());
        out.push_back({t.name, std::move(value)});
        break;
      }
      case SafetensorsDType::f16:
      case SafetensorsDType::bf16: {
        std::vector<std::uint16_t> halves(t.elements);
        read(halves.data(), t.begin, bytes);
        Tensor value = Tensor::empty(shape, DType::f32);
        float* dst = value.array<float>().data();
        auto widen = t.dtype == SafetensorsDType::f16 ? half_to_float : bfloat16_to_float;
        for (std::size_t i = 0; i < halves.size(); ++i) dst[i] = widen(halves[i]);
        out.push_back({t.name, std::move(value)});
        break;
      }
    }
  }
  return out;
}

}  // namespace

namespace {

struct FileCloser {
  void operator()(std::FILE* f) const { std::fclose(f); }
};
using File = std::unique_ptr<std::FILE, FileCloser>;

// Opens a regular file for reading; returns it and its size.
std::pair<File, std::uint64_t> open_for_reading(const std::filesystem::path& path) {
  check_regular_file(path);
  File file(std::fopen(path.c_str(), "rb"));
  if (!file) throw FileError(fmt::format("cannot open '{}' for reading: {}", path.string(), errno_text(errno)));
  struct stat info {};
  if (::fstat(::fileno(file.get()), &info) != 0) {
    throw FileError(fmt::format("cannot read '{}': {}", path.string(), errno_text(errno)));
  }
  if (!S_ISREG(info.st_mode)) throw FileError(fmt::format("cannot read '{}': not a regular file", path.string()));
  return {std::move(file), static_cast<std::uint64_t>(info.st_size)};
}

void read_exactly(std::FILE* file, void* dst, std::size_t n, const std::string& source) {
  if (n != 0 && std::fread(dst, 1, n, file) != n) {
    if (std::ferror(file)) throw FileError(fmt::format("cannot read '{}': {}", source, errno_text(errno)));
    malformed(source, "file ended early (was it changed while being read?)");
  }
}

// Reads and checks the length prefix and the header; the file is left at the
// start of the data buffer.
SafetensorsHeader read_header(std::FILE* file, std::uint64_t file_bytes, const std::string& source) {
  check_file_length(file_bytes, source);
  std::uint8_t prefix[8];
  read_exactly(file, prefix, 8, source);
  const std::uint64_t n = check_header_length(prefix, file_bytes, source);
  std::string text(n, '\0');  // n is at most the file's size and 100 MB
  read_exactly(file, text.data(), n, source);
  return parse_header(text, file_bytes - 8 - n, source);
}

// Serializes `tensors` into `sink(bytes, n)`, which is called in file order.
void write_safetensors(const std::vector<SafetensorsTensor>& tensors, const Metadata& metadata,
                       const std::function<void(const void*, std::size_t)>& sink) {
  auto refuse = [](const std::string& what) { throw Error(fmt::format("save_safetensors: {}", what)); };
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) {
    for (const auto& [key, value] : metadata) {
      if (!is_valid_utf8(key) || !is_valid_utf8(value)) {
        refuse(fmt::format("metadata key '{}' or its value is not UTF-8", key));
      }
    }
    header["__metadata__"] = metadata;
  }
  std::set<std::string> names;
  std::uint64_t offset = 0;
  struct Span {
    const void* data;
    std::size_t bytes;
  };
  std::vector<Span> spans;
  std::vector<std::vector<std::uint8_t>> narrowed;  // the bytes of tensors stored in a narrower dtype
  auto stored = [&](std::size_t elements, std::size_t element_bytes, auto&& fill) {
    std::vector<std::uint8_t>& bytes = narrowed.emplace_back(elements * element_bytes);
    fill(bytes.data());
    return Span{bytes.data(), bytes.size()};
  };
  for (const SafetensorsTensor& t : tensors) {
    if (t.name == "__metadata__") refuse("a tensor cannot be named '__metadata__' (the header's metadata key)");
    if (!is_valid_utf8(t.name)) refuse(fmt::format("tensor name '{}' is not UTF-8", t.name));
    if (!names.insert(t.name).second) refuse(fmt::format("tensor '{}' is named twice", t.name));
    const char* dtype = nullptr;
    std::vector<std::size_t> shape;
    Span span{};
    auto cannot_store = [&](const char* what) {
      refuse(fmt::format("tensor '{}' holds {} and cannot be stored as {}", t.name, what,
                         safetensors_dtype_name(*t.stored_as)));
    };
    if (const Tensor* value = std::get_if<Tensor>(&t.value)) {
      if (!value->defined()) refuse(fmt::format("tensor '{}' is undefined", t.name));
      dtype = value->dtype() == DType::f32 ? "F32" : "F64";
      shape.assign(value->shape().begin(), value->shape().end());
      dispatch(value->dtype(), [&](auto zero) {
        using T = decltype(zero);
        const T* data = value->array<T>().data();
        const std::size_t n = value->size();
        if (!t.stored_as ||
            *t.stored_as == (value->dtype() == DType::f32 ? SafetensorsDType::f32 : SafetensorsDType::f64)) {
          span = {data, value->nbytes()};
        } else if (*t.stored_as == SafetensorsDType::f16 || *t.stored_as == SafetensorsDType::bf16) {
          const bool half = *t.stored_as == SafetensorsDType::f16;
          dtype = safetensors_dtype_name(*t.stored_as);
          span = stored(n, 2, [&](std::uint8_t* out) {
            for (std::size_t i = 0; i < n; ++i) {
              const float x = static_cast<float>(data[i]);
              const std::uint16_t bits = half ? float_to_half(x) : float_to_bfloat16(x);
              std::memcpy(out + 2 * i, &bits, 2);
            }
          });
        } else {
          cannot_store("floating-point values");
        }
      });
    } else {
      const Indices& ids = std::get<Indices>(t.value);
      shape.assign(ids.shape().begin(), ids.shape().end());
      if (!t.stored_as || *t.stored_as == SafetensorsDType::i64) {
        dtype = "I64";
        span = {ids.data(), ids.size() * sizeof(std::int64_t)};
      } else if (*t.stored_as == SafetensorsDType::i8 || *t.stored_as == SafetensorsDType::boolean) {
        const bool flags = *t.stored_as == SafetensorsDType::boolean;
        const std::int64_t low = flags ? 0 : -128, high = flags ? 1 : 127;
        dtype = safetensors_dtype_name(*t.stored_as);
        for (std::size_t i = 0; i < ids.size(); ++i) {
          if (ids.data()[i] < low || ids.data()[i] > high) {
            refuse(fmt::format("tensor '{}': element {} is {}, outside {}'s range [{}, {}]", t.name, i, ids.data()[i],
                               dtype, low, high));
          }
        }
        span = stored(ids.size(), 1, [&](std::uint8_t* out) {
          for (std::size_t i = 0; i < ids.size(); ++i) out[i] = static_cast<std::uint8_t>(ids.data()[i]);
        });
      } else {
        cannot_store("integers");
      }
    }
    header[t.name] = {{"dtype", dtype}, {"shape", shape}, {"data_offsets", {offset, offset + span.bytes}}};
    offset += span.bytes;
    spans.push_back(span);
  }
  std::string text = header.dump();
  // Spaces up to a multiple of 8, as the reference writer does, so the data
  // buffer starts 8-byte aligned.
  text.append((8 - text.size() % 8) % 8, ' ');
  std::uint8_t prefix[8];
  for (int i = 0; i < 8; ++i) prefix[i] = static_cast<std::uint8_t>(static_cast<std::uint64_t>(text.size()) >> (8 * i));
  sink(prefix, 8);
  sink(text.data(), text.size());
  for (const Span& span : spans) {
    if (span.bytes != 0) sink(span.data, span.bytes);
  }
}

}  // namespace

SafetensorsFile parse_safetensors(std::span<const std::uint8_t> bytes, const std::string& source) {
  check_file_length(bytes.size(), source);
  const std::uint64_t n = check_header_length(bytes.data(), bytes.size(), source);
  std::string_view text(reinterpret_cast<const char*>(bytes.data() + 8), n);
  SafetensorsFile file;
  file.source = source;
  file.header = parse_header(text, bytes.size() - 8 - n, source);
  const std::uint8_t* data = bytes.data() + 8 + n;
  file.tensors = decode_tensors(file.header, source, [&](void* dst, std::uint64_t begin, std::size_t count) {
    if (count != 0) std::memcpy(dst, data + begin, count);
  });
  return file;
}

SafetensorsFile load_safetensors(const std::filesystem::path& path) {
  const std::string source = path.string();
  auto opened = open_for_reading(path);
  std::FILE* file = opened.first.get();
  SafetensorsFile out;
  out.source = source;
  out.header = read_header(file, opened.second, source);
  // The tensors tile the buffer in order, so each read follows the last.
  out.tensors = decode_tensors(
      out.header, source, [&](void* dst, std::uint64_t, std::size_t count) { read_exactly(file, dst, count, source); });
  return out;
}

const SafetensorsTensor& SafetensorsFile::at(std::string_view name) const {
  for (const SafetensorsTensor& t : tensors) {
    if (t.name == name) return t;
  }
  std::vector<std::string_view> names;
  for (const SafetensorsTensor& t : tensors) names.push_back(t.name);
  throw Error(fmt::format("'{}' holds no tensor named '{}'; it holds: {}", source, name, fmt::join(names, ", ")));
}

namespace {

// The integer values of `tensor`, for `wanted` (what the caller turns them into); Error unless
// it holds integers.
const Indices& integer_values(const SafetensorsTensor& tensor, std::string_view wanted) {
  const Indices* values = std::get_if<Indices>(&tensor.value);
  if (values == nullptr) {
    throw Error(fmt::format("tensor '{}' holds {} values; {} need an integer tensor (I64 or BOOL)", tensor.name,
                            dtype_name(std::get<Tensor>(tensor.value).dtype()), wanted));
  }
  return *values;
}

}  // namespace

std::vector<std::int64_t> lengths_from(const SafetensorsTensor& tensor) {
  const Indices& values = integer_values(tensor, "lengths");
  if (values.dimension() != 1) {
    throw Error(fmt::format("tensor '{}' is {}; lengths need one dimension", tensor.name,
                            shape_str(Shape(values.shape().begin(), values.shape().end()))));
  }
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (values(i) < 0)
      throw Error(fmt::format("tensor '{}': length {} at index {} is negative", tensor.name, values(i), i));
  }
  return std::vector<std::int64_t>(values.begin(), values.end());
}

Mask mask_from(const SafetensorsTensor& tensor) {
  const Indices& values = integer_values(tensor, "masks");
  Mask mask = Mask::from_shape(values.shape());
  for (std::size_t i = 0; i < values.size(); ++i) {
    const std::int64_t v = values.data()[i];
    if (v != 0 && v != 1) {
      const auto position = xt::unravel_index(i, values.shape());
      throw Error(fmt::format("tensor '{}': value {} at [{}] is not 0 or 1, so not a mask", tensor.name, v,
                              fmt::join(position, ", ")));
    }
    mask.data()[i] = v == 1;
  }
  return mask;
}

SafetensorsHeader read_safetensors_header(const std::filesystem::path& path) {
  auto [file, file_bytes] = open_for_reading(path);
  return read_header(file.get(), file_bytes, path.string());
}

std::vector<std::uint8_t> serialize_safetensors(const std::vector<SafetensorsTensor>& tensors,
                                                const Metadata& metadata) {
  std::vector<std::uint8_t> out;
  write_safetensors(tensors, metadata, [&](const void* data, std::size_t n) {
    const auto* p = static_cast<const std::uint8_t*>(data);
    out.insert(out.end(), p, p + n);
  });
  return out;
}

void save_safetensors(const std::filesystem::path& path, const std::vector<SafetensorsTensor>& tensors,
                      const Metadata& metadata) {
  write_atomically(path, [&](const ByteSink& sink) { write_safetensors(tensors, metadata, sink); });
}

}  // namespace tg
