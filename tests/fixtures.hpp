#pragma once
// Reading the PyTorch fixtures in tests/fixtures/*.json (made by the scripts in
// tools/fixtures/): each tensor is stored as {"shape": [...], "data": [...]}.
#include <doctest/doctest.h>

#include <cmath>
#include <fstream>
#include <limits>
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

/// A boolean tensor stored as 0/1.
inline Mask mask_of(const nlohmann::json& t) {
  Mask m = Mask::from_shape(shape_of(t));
  std::vector<int> data = t.at("data").get<std::vector<int>>();
  REQUIRE(data.size() == m.size());
  for (std::size_t i = 0; i < data.size(); ++i) m.data()[i] = data[i] != 0;
  return m;
}

/// An attn_mask stored by gen_transformer_fixtures.py: "bool", or "float" as finite values
/// plus the positions of -inf (JSON has no -inf).
inline AttentionMask attention_mask_of(const nlohmann::json& entry, DType dtype) {
  if (entry.at("kind") == "bool") return mask_of(entry.at("mask"));
  Tensor values = tensor_of(entry.at("finite"), dtype);
  const Mask neg_inf = mask_of(entry.at("neg_inf"));
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (neg_inf.data()[i]) values.set(i, -std::numeric_limits<double>::infinity());
  }
  return values;
}

/// |got - want| <= rel |want| + floor, element by element.
inline void check_close(const Tensor& got, const Tensor& want, double rel, double floor) {
  REQUIRE(got.shape() == want.shape());
  for (std::size_t i = 0; i < want.size(); ++i) {
    CAPTURE(i);
    CAPTURE(want.at(i));
    CHECK(std::abs(got.at(i) - want.at(i)) <= rel * std::abs(want.at(i)) + floor);
  }
}

}  // namespace tg::test
