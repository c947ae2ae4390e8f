// edit_checkpoint IN OUT KEY FIELD VALUE: writes OUT, a copy of the safetensors file IN whose
// metadata KEY (a JSON object) has FIELD set to VALUE (JSON text, e.g. 100000000 or "gru"), or
// removed when VALUE is empty (a model as saved before FIELD existed).
// check_limits.sh makes checkpoints with impossible or mismatched configurations with it.
#include <cstdio>
#include <exception>

#include <nlohmann/json.hpp>

#include "tapegrad/io/safetensors.hpp"

int main(int argc, char** argv) {
  if (argc != 6) {
    std::fprintf(stderr, "usage: edit_checkpoint IN OUT KEY FIELD VALUE\n");
    return 2;
  }
  try {
    tg::SafetensorsFile file = tg::load_safetensors(argv[1]);
    nlohmann::ordered_json config = nlohmann::ordered_json::parse(file.header.metadata.at(argv[3]));
    if (argv[5][0] == '\0') {
      config.erase(argv[4]);
    } else {
      config[argv[4]] = nlohmann::ordered_json::parse(argv[5]);
    }
    file.header.metadata[argv[3]] = config.dump();
    tg::save_safetensors(argv[2], file.tensors, file.header.metadata);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "edit_checkpoint: %s\n", e.what());
    return 1;
  }
  return 0;
}
