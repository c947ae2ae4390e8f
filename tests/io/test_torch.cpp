// The PyTorch round trip. In: tools/fixtures/gen_safetensors_fixtures.py wrote
// a torch model's state dict and special F16/BF16/F64/I64 values with its own
// struct+json writer; they load here and give PyTorch's outputs. Out: a
// tapegrad model is written to TAPEGRAD_IO_OUT_DIR with its outputs, for the
// ctest torch_loads_tapegrad_checkpoint (tools/fixtures/check_torch_load.py).
#include <doctest/doctest.h>

#include <cmath>
#include <fstream>
#include <string>
#include <tuple>
#include <vector>

#include <nlohmann/json.hpp>

#include "fixtures.hpp"
#include "io_helpers.hpp"
#include "tapegrad.hpp"
#include "tiny.hpp"

using namespace tg;
using namespace tg::test;
using nlohmann::json;

namespace {

const json& fixtures() {
  static const json data = load_fixtures("safetensors.json");
  return data;
}

std::string fixture_path(const std::string& file) {
  return std::string(TAPEGRAD_SOURCE_DIR) + "/tests/fixtures/" + file;
}

Indices indices_of(const json& t) {
  Indices out = Indices::from_shape(shape_of(t));
  std::vector<std::int64_t> data = t.at("data").get<std::vector<std::int64_t>>();
  REQUIRE(data.size() == out.size());
  std::copy(data.begin(), data.end(), out.begin());
  return out;
}

json tensor_json(const Tensor& t) {
  return {{"shape", std::vector<std::size_t>(t.shape().begin(), t.shape().end())}, {"data", t.to_vector()}};
}

}  // namespace

TEST_CASE("torch -> tapegrad: a PyTorch state dict loads strictly and gives PyTorch's outputs") {
  const json& f = fixtures().at("model");
  Tiny model({.vocab = f.at("vocab"), .embed = f.at("embed"), .hidden = f.at("hidden")});
  LoadResult result = load_checkpoint(model, fixture_path("torch_model.safetensors"));
  CHECK(result.missing_keys.empty());
  CHECK(result.unexpected_keys.empty());
  CHECK(read_safetensors_header(fixture_path("torch_model.safetensors")).metadata ==
        Metadata{{"format", "pt"}, {"source", "torch"}});

  const Tensor out = model.forward(indices_of(f.at("ids"))).value();
  const Tensor expected = tensor_of(f.at("output"));
  REQUIRE(out.shape() == expected.shape());
  for (std::size_t i = 0; i < out.size(); ++i) {
    INFO("element ", i);
    CHECK(std::abs(out.at(i) - expected.at(i)) <= 1e-5 + 1e-5 * std::abs(expected.at(i)));
  }
}

TEST_CASE("torch -> tapegrad: F16 and BF16 widen as PyTorch's .float() does; F64 and I64 exactly") {
  const json& f = fixtures().at("dtypes");
  const SafetensorsFile file = load_safetensors(fixture_path("torch_dtypes.safetensors"));
  CHECK(file.header.metadata.at("note") == "special values");
  auto value = [&](const std::string& name) -> const std::variant<Tensor, Indices>& {
    for (const auto& t : file.tensors) {
      if (t.name == name) return t.value;
    }
    FAIL("no tensor ", name);
    throw;
  };
  for (const auto& entry : {std::pair{"halves.f16", "f16_bits"}, std::pair{"halves.bf16", "bf16_bits"}}) {
    const auto& name = std::get<0>(entry);
    const auto& key = std::get<1>(entry);
    INFO(name);
    const Tensor& t = std::get<Tensor>(value(name));
    const auto bits = f.at(key).at("data").get<std::vector<std::uint32_t>>();
    CHECK(t.dtype() == DType::f32);
    CHECK(t.shape() == shape_of(f.at(key)));
    REQUIRE(t.size() == bits.size());
    for (std::size_t i = 0; i < bits.size(); ++i) {
      INFO("element ", i);
      CHECK(bits_of(t.array<float>().flat(i)) == bits[i]);
    }
  }
  const Tensor& f64 = std::get<Tensor>(value("f64"));
  CHECK(f64.dtype() == DType::f64);
  CHECK(same_bits(f64, tensor_of(f.at("f64"))));
  CHECK(std::get<Indices>(value("i64")) == indices_of(f.at("i64")));
  CHECK(std::get<Tensor>(value("scalar")).item() == 2.5);
  CHECK(std::get<Tensor>(value("empty")).shape() == Shape{0, 3});
}

TEST_CASE("tapegrad -> torch: writes a checkpoint and its outputs for check_torch_load.py") {
  const std::filesystem::path out_dir = TAPEGRAD_IO_OUT_DIR;
  std::filesystem::create_directories(out_dir);
  Generator gen(42);
  Tiny model({.vocab = 11, .embed = 6, .hidden = 3}, gen);
  // Non-default LayerNorm parameters, so that loading them matters.
  model.norm.weight.mutable_value() = Tensor::uniform({3}, 0.5, 1.5, 1, DType::f32);
  model.norm.bias.mutable_value() = Tensor::uniform({3}, -0.5, 0.5, 2, DType::f32);
  Indices ids = {{10, 0, 4, 4}, {7, 1, 2, 9}};
  const Tensor out = model.forward(ids).value();
  save_checkpoint(model, out_dir / "tapegrad_model.safetensors", {{"framework", "tapegrad"}});

  // And the other dtypes, for the Python reader.
  Tensor f64 = Tensor::normal({2, 2}, 0.0, 1.0, 3, DType::f64);
  Indices i64 = {-5, 0, 1LL << 40};
  save_safetensors(out_dir / "tapegrad_dtypes.safetensors", {{"f64", f64}, {"i64", i64}});

  json expected = {{"vocab", 11},
                   {"embed", 6},
                   {"hidden", 3},
                   {"ids", {{"shape", {2, 4}}, {"data", std::vector<std::int64_t>(ids.begin(), ids.end())}}},
                   {"output", tensor_json(out)},
                   {"metadata", {{"framework", "tapegrad"}}},
                   {"dtypes",
                    {{"f64", tensor_json(f64)},
                     {"i64", {{"shape", {3}}, {"data", std::vector<std::int64_t>(i64.begin(), i64.end())}}}}}};
  std::ofstream(out_dir / "tapegrad_model.json") << expected.dump(1) << "\n";
  CHECK(load_safetensors(out_dir / "tapegrad_model.safetensors").tensors.size() == 5);
}

TEST_CASE("torch -> tapegrad: a state dict beside other tensors in one file, in float64, into a float32 model") {
  // What a client's fixture file holds: the model under "model.", its inputs, lengths, masks.
  const json& f = fixtures().at("model");
  const SafetensorsFile file = load_safetensors(fixture_path("torch_mixed.safetensors"));
  Tiny model({.vocab = f.at("vocab"), .embed = f.at("embed"), .hidden = f.at("hidden")});
  const StateDict state = state_dict_for(model, file, "model.");
  REQUIRE(state.size() == model.named_parameters().size());
  CHECK(state[0].value.dtype() == DType::f64);
  const LoadResult result = model.load_state_dict(state);  // strict: every key, nothing else
  CHECK(result.missing_keys.empty());
  CHECK(result.unexpected_keys.empty());
  CHECK(model.dtype() == DType::f32);

  // The float64 weights were the float32 ones widened: the outputs are PyTorch's float32 ones.
  const Tensor out = model.forward(std::get<Indices>(file.at("ids").value)).value();
  const Tensor expected = tensor_of(f.at("output"));
  REQUIRE(out.shape() == expected.shape());
  for (std::size_t i = 0; i < out.size(); ++i) {
    INFO("element ", i);
    CHECK(std::abs(out.at(i) - expected.at(i)) <= 1e-5 + 1e-5 * std::abs(expected.at(i)));
  }

  // Lengths and masks from I64 and BOOL tensors.
  CHECK(lengths_from(file.at("lengths")) == std::vector<std::int64_t>{3, 2});
  const Mask expected_mask = {{false, false, false}, {false, false, true}};
  CHECK(mask_from(file.at("padding")) == expected_mask);
  CHECK(mask_from(file.at("padding_long")) == expected_mask);
  CHECK(read_safetensors_header(fixture_path("torch_mixed.safetensors")).tensors.back().dtype == SafetensorsDType::f32);
}

TEST_CASE("a file's tensors as a state dict, lengths or a mask: errors name the file, the tensor and the value") {
  const SafetensorsFile file = load_safetensors(fixture_path("torch_mixed.safetensors"));
  const std::string path = fixture_path("torch_mixed.safetensors");
  Tiny model({.vocab = 7, .embed = 5, .hidden = 4});
  auto message_of = [](auto&& call) {
    try {
      call();
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  // Without the prefix no parameter is found; each is named with what was looked for.
  std::string m = message_of([&] { state_dict_for(model, file, "net."); });
  CHECK(m.find(path) != std::string::npos);
  CHECK(m.find("no tensor named net.embed.weight") != std::string::npos);
  CHECK_THROWS_AS(state_dict_for(model, file, "net."), CheckpointError);

  m = message_of([&] { file.at("weights"); });
  CHECK(m.find("holds no tensor named 'weights'") != std::string::npos);
  CHECK(m.find("padding_long") != std::string::npos);  // the names it holds are listed

  m = message_of([&] { lengths_from(file.at("scale")); });
  CHECK(m.find("tensor 'scale' holds float32 values; lengths need an integer tensor") != std::string::npos);
  m = message_of([&] { lengths_from(file.at("ids")); });
  CHECK(m.find("tensor 'ids' is [2, 3]; lengths need one dimension") != std::string::npos);
  m = message_of([&] { mask_from(file.at("ids")); });
  CHECK(m.find("tensor 'ids': value 3 at [0, 1] is not 0 or 1") != std::string::npos);
  const SafetensorsTensor negative{"lengths", Indices{4, -1}};
  m = message_of([&] { lengths_from(negative); });
  CHECK(m.find("tensor 'lengths': length -1 at index 1 is negative") != std::string::npos);
}
