// `tapegrad inspect FILE.safetensors`: names, dtypes, shapes and element
// counts of every tensor, the total, and the metadata, as aligned tables.
// Reads and checks only the header (against the file's size), so it is quick
// on any checkpoint and reports a malformed file by the rule it breaks.
#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "tapegrad/cli/commands.hpp"
#include "tapegrad/io/safetensors.hpp"

namespace tg::cli {
namespace {

void inspect(const std::string& path) {
  const SafetensorsHeader header = read_safetensors_header(path);
  struct Row {
    std::string name, dtype, shape, elements;
  };
  std::vector<Row> rows;
  std::uint64_t total = 0;
  for (const SafetensorsEntry& t : header.tensors) {
    rows.push_back({t.name, safetensors_dtype_name(t.dtype), fmt::format("[{}]", fmt::join(t.shape, ", ")),
                    fmt::format("{}", t.elements)});
    total += t.elements;  // cannot overflow: each count times its size fits in the file
  }
  const Row head{"name", "dtype", "shape", "elements"};
  const Row foot{"total", "", "", fmt::format("{}", total)};
  std::size_t w[4] = {0, 0, 0, 0};
  for (const Row* r : {&head, &foot}) rows.push_back(*r);
  for (const Row& r : rows) {
    w[0] = std::max(w[0], r.name.size());
    w[1] = std::max(w[1], r.dtype.size());
    w[2] = std::max(w[2], r.shape.size());
    w[3] = std::max(w[3], r.elements.size());
  }
  rows.resize(rows.size() - 2);

  fmt::print("{}: {} tensors, {} parameters, {} bytes (header {}, data {})\n\n", path, header.tensors.size(), total,
             8 + header.header_bytes + header.data_bytes, header.header_bytes, header.data_bytes);
  auto line = [&](const Row& r) {
    std::string text =
        fmt::format("{:<{}}  {:<{}}  {:<{}}  {:>{}}", r.name, w[0], r.dtype, w[1], r.shape, w[2], r.elements, w[3]);
    text.erase(text.find_last_not_of(' ') + 1);
    fmt::print("{}\n", text);
  };
  line(head);
  for (const Row& r : rows) line(r);
  line(foot);

  fmt::print("\nmetadata:{}\n", header.metadata.empty() ? " (none)" : "");
  std::size_t key_width = 0;
  for (const auto& [key, value] : header.metadata) key_width = std::max(key_width, key.size());
  for (const auto& [key, value] : header.metadata) fmt::print("  {:<{}}  {}\n", key, key_width, value);
}

}  // namespace

void add_inspect_command(CLI::App& app) {
  CLI::App* command = app.add_subcommand("inspect", "Show the tensors and metadata of a safetensors file");
  auto path = std::make_shared<std::string>();
  command->add_option("file", *path, "the .safetensors file")->required();
  command->callback([path] { inspect(*path); });
}

}  // namespace tg::cli
