// libFuzzer harness of the safetensors reader (tools/fuzz.sh builds and runs it).
// Any input must either parse or throw tg::FormatError: another exception, a
// crash, a sanitizer report, a leak or a timeout is a bug. What parses must
// also write back and read again to the same names, dtypes, shapes and bits.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <span>
#include <variant>
#include <vector>

#include "tapegrad/io/safetensors.hpp"

namespace {

[[noreturn]] void broken(const char* what) {
  std::fprintf(stderr, "fuzz_safetensors: round trip broken: %s\n", what);
  std::abort();
}

bool same(const tg::Tensor& a, const tg::Tensor& b) {
  if (a.dtype() != b.dtype() || a.shape() != b.shape()) return false;
  return tg::dispatch(a.dtype(), [&](auto zero) {
    using T = decltype(zero);
    return a.nbytes() == 0 || std::memcmp(a.array<T>().data(), b.array<T>().data(), a.nbytes()) == 0;
  });
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  tg::SafetensorsFile file;
  try {
    file = tg::parse_safetensors(std::span<const std::uint8_t>(data, size), "fuzz-input");
  } catch (const tg::FormatError&) {
    return 0;  // refused with a message: the expected outcome for most inputs
  }
  const std::vector<std::uint8_t> bytes = tg::serialize_safetensors(file.tensors, file.header.metadata);
  const tg::SafetensorsFile again = tg::parse_safetensors(bytes, "fuzz-roundtrip");
  if (again.header.metadata != file.header.metadata) broken("metadata");
  if (again.tensors.size() != file.tensors.size()) broken("tensor count");
  for (std::size_t i = 0; i < file.tensors.size(); ++i) {
    const auto& a = file.tensors[i];
    const auto& b = again.tensors[i];
    if (a.name != b.name || a.value.index() != b.value.index()) broken("name or kind");
    if (const auto* t = std::get_if<tg::Tensor>(&a.value)) {
      if (!same(*t, std::get<tg::Tensor>(b.value))) broken("tensor values");
    } else if (std::get<tg::Indices>(a.value) != std::get<tg::Indices>(b.value)) {
      broken("indices");
    }
  }
  return 0;
}
