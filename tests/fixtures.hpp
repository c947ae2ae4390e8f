#pragma once
// Reading the PyTorch fixtures in tests/fixtures/*.json (made by the scripts in
// tools/fixtures/): each tensor is stored as {"shape": [...], "data": [...]}.
#include <doctest/doctest.h>

#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tapegrad.hpp"

namespace tg::test {

/// tests/fixtures/<file>, parsed. Fails the test if the file is missing.
inline nlohmann::json load_fixtures(const std::string& file) {
  const std::string path = std::string(TAPEGRAD_SOURCE_DIR) + "/tests/fixtures/" + file;
  std::ifstream in(path);
  INFO("fixture file ", path);
  REQUIRE(in.good());
  return nlohmann::json::parse(in);
}

inline tg::Shape shape_of(const nlohmann::json& t) { return t.at("shape").get<std::vector<std::size_t>>(); }

inline tg::Tensor tensor_of(const nlohmann::json& t, tg::DType dtype = tg::DType::f64) {
  return tg::Tensor::from_vector(t.at("data").get<std::vector<double>>(), shape_of(t), dtype);
}

}  // namespace tg::test
