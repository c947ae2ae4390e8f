// compare_checkpoints A B [TOLERANCE]: exit 0 when the two safetensors files hold the
// same tensors (names, dtypes, shapes and every byte of every value, or with TOLERANCE
// every value within that relative gap of the other file's: max |a - b| / max |b| per
// tensor), metadata aside; otherwise prints the first difference and exits 1. Used by
// check_train.sh (a resumed run must end bitwise equal to an uninterrupted one) and
// check_distributed.sh (ranks against one process).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>

#include "tapegrad/io/safetensors.hpp"

int main(int argc, char** argv) {
  if (argc != 3 && argc != 4) {
    std::fprintf(stderr, "usage: compare_checkpoints A B [TOLERANCE]\n");
    return 2;
  }
  const double tolerance = argc == 4 ? std::strtod(argv[3], nullptr) : -1;
  try {
    const tg::SafetensorsFile a = tg::load_safetensors(argv[1]), b = tg::load_safetensors(argv[2]);
    if (a.tensors.size() != b.tensors.size()) {
      std::printf("%zu tensors in %s, %zu in %s\n", a.tensors.size(), argv[1], b.tensors.size(), argv[2]);
      return 1;
    }
    for (std::size_t i = 0; i < a.tensors.size(); ++i) {
      const tg::SafetensorsEntry &x = a.header.tensors[i], &y = b.header.tensors[i];
      if (x.name != y.name || x.dtype != y.dtype || x.shape != y.shape) {
        std::printf("tensor %zu: '%s' and '%s' differ in name, dtype or shape\n", i, x.name.c_str(), y.name.c_str());
        return 1;
      }
      const auto* p = std::get_if<tg::Tensor>(&a.tensors[i].value);
      const auto* q = std::get_if<tg::Tensor>(&b.tensors[i].value);
      if (p && q) {
        const std::vector<double> u = p->to_vector(), v = q->to_vector();
        if (tolerance >= 0) {
          double gap = 0, scale = 0;
          for (std::size_t k = 0; k < u.size(); ++k) {
            gap = std::max(gap, std::abs(u[k] - v[k]));
            scale = std::max(scale, std::abs(v[k]));
          }
          if (gap > tolerance * scale || std::isnan(gap)) {
            std::printf("tensor '%s' differs by %g relative\n", x.name.c_str(), scale > 0 ? gap / scale : gap);
            return 1;
          }
          continue;
        }
        if (std::memcmp(u.data(), v.data(), u.size() * sizeof(double)) != 0) {
          std::printf("tensor '%s' differs\n", x.name.c_str());
          return 1;
        }
      }
    }
    std::printf("%zu tensors, %s\n", a.tensors.size(), tolerance >= 0 ? "equal within the tolerance" : "bitwise equal");
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "compare_checkpoints: %s\n", e.what());
    return 2;
  }
}
