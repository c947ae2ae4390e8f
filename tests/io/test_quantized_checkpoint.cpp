// Checkpoints of quantized models (io/quantized_checkpoint.hpp): I8 values with F32 scales that
// load back as the same weights and the same int8 copies, as floats anywhere a checkpoint
// loads; malformed pairs refused by name; half-precision checkpoints.
#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <string>
#include <vector>

#include "io_helpers.hpp"
#include "tapegrad.hpp"
#include "tiny.hpp"

using namespace tg;
using namespace tg::test;

namespace {

std::vector<double> values(const Var& v) { return v.value().to_vector(); }

std::string load_error(const std::filesystem::path& path) {
  Tiny fresh({});
  try {
    load_checkpoint(fresh, path);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("a quantized checkpoint holds I8 values and F32 scales, and loads back the same weights and copies") {
  ScratchDir dir;
  const auto path = dir.path / "int8.safetensors";
  Generator gen(7);
  Tiny model({}, gen);
  auto int8 = quantize_dynamic(model, {.per_channel = true, .embeddings = true});
  REQUIRE(int8->size() == 2);
  save_quantized_checkpoint(model, *int8, path, {{"note", "kept"}});

  const SafetensorsHeader header = read_safetensors_header(path);
  std::map<std::string, const SafetensorsEntry*> by_name;
  for (const SafetensorsEntry& e : header.tensors) by_name[e.name] = &e;
  CHECK(by_name.at("proj.weight")->dtype == SafetensorsDType::i8);
  CHECK(by_name.at("proj.weight.scale")->dtype == SafetensorsDType::f32);
  CHECK(by_name.at("proj.weight.scale")->shape == std::vector<std::uint64_t>{4});
  CHECK(by_name.at("embed.weight")->dtype == SafetensorsDType::i8);
  CHECK(by_name.at("embed.weight.scale")->shape == std::vector<std::uint64_t>{7});
  CHECK(by_name.at("proj.bias")->dtype == SafetensorsDType::f32);
  CHECK(header.metadata.at("note") == "kept");
  CHECK(header.metadata.at(kQuantizationKey) == R"({"activations":"per_row","scales":"per_channel","weights":"int8"})");

  // Loaded as a float model: the dequantized values, bit for bit.
  Tiny loaded({});
  load_checkpoint(loaded, path);
  const auto original = model.named_parameters(), back = loaded.named_parameters();
  for (std::size_t i = 0; i < original.size(); ++i) {
    CAPTURE(original[i].name);
    CHECK(values(back[i].var) == values(original[i].var));
  }
  // And the same int8 copies.
  auto copies = load_int8_weights(loaded, path);
  REQUIRE(copies != nullptr);
  CHECK(copies->size() == 2);
  CHECK(copies->activations() == ActivationQuantization::per_row);
  const std::pair<const Var*, const Var*> pairs[] = {{&model.proj.weight, &loaded.proj.weight},
                                                     {&model.embed.weight, &loaded.embed.weight}};
  for (const auto& [saved_weight, loaded_weight] : pairs) {
    const Int8Matrix* a = int8->find(*saved_weight);
    const Int8Matrix* b = copies->find(*loaded_weight);
    REQUIRE(a != nullptr);
    REQUIRE(b != nullptr);
    CHECK(a->values == b->values);
    CHECK(a->scales == b->scales);
    CHECK(a->row_sums == b->row_sums);
  }
  // Both decode alike.
  NoGradGuard no_grad;
  const Indices ids = {{1, 2, 6}, {0, 5, 3}};
  CHECK(model.forward(ids).value().to_vector() == loaded.forward(ids).value().to_vector());
}

TEST_CASE("per-tensor scales and PyTorch's activations are written and read back") {
  ScratchDir dir;
  const auto path = dir.path / "int8.safetensors";
  Generator gen(8);
  Tiny model({}, gen);
  auto int8 = quantize_dynamic(model, {.per_channel = false, .activations = ActivationQuantization::per_tensor});
  save_quantized_checkpoint(model, *int8, path);
  const SafetensorsHeader header = read_safetensors_header(path);
  CHECK(header.metadata.at(kQuantizationKey) ==
        R"({"activations":"per_tensor","scales":"per_tensor","weights":"int8"})");
  Tiny loaded({});
  load_checkpoint(loaded, path);
  auto copies = load_int8_weights(loaded, path);
  REQUIRE(copies != nullptr);
  CHECK(copies->activations() == ActivationQuantization::per_tensor);
  CHECK(copies->find(loaded.proj.weight)->scales.size() == 1);
  CHECK(copies->find(loaded.embed.weight) == nullptr);  // tables only when asked
}

TEST_CASE("a float checkpoint has no int8 copies") {
  ScratchDir dir;
  Tiny model({});
  save_checkpoint(model, dir.path / "f32.safetensors");
  CHECK(load_int8_weights(model, dir.path / "f32.safetensors") == nullptr);
}

TEST_CASE("malformed quantized weights are refused, naming the file and the tensor") {
  ScratchDir dir;
  Tiny model({});
  const Indices q = {{1, -2, 3, 4, 5}, {0, 0, 0, 0, 0}, {7, 7, 7, 7, 7}, {-128, 127, 0, 1, 2}};
  auto file_with = [&](const std::string& name, std::vector<SafetensorsTensor> extra, const Metadata& metadata = {}) {
    std::vector<SafetensorsTensor> tensors;
    for (NamedTensor& t : model.state_dict()) {
      if (t.name != "proj.weight") tensors.push_back({t.name, t.value});
    }
    for (SafetensorsTensor& t : extra) tensors.push_back(std::move(t));
    const auto path = dir.path / name;
    save_safetensors(path, tensors, metadata);
    return path;
  };
  const Tensor scales = Tensor::from_vector({0.1, 0.2, 0.3, 0.4}, {4});
  CHECK(load_error(file_with("none.safetensors", {{"proj.weight", q, SafetensorsDType::i8}})) ==
        "quantized checkpoint '" + (dir.path / "none.safetensors").string() +
            "': I8 tensor 'proj.weight' has no scales: the file holds no 'proj.weight.scale'");
  CHECK(load_error(file_with("rows.safetensors", {{"proj.weight", q, SafetensorsDType::i8},
                                                  {"proj.weight.scale", Tensor::from_vector({0.1, 0.2}, {2})}}))
            .find("'proj.weight.scale' must be F32 [4] (one scale per row of 'proj.weight') or [1], not F32 [2]") !=
        std::string::npos);
  CHECK(load_error(file_with("f64.safetensors",
                             {{"proj.weight", q, SafetensorsDType::i8}, {"proj.weight.scale", scales.to(DType::f64)}}))
            .find("not F64 [4]") != std::string::npos);
  CHECK(load_error(
            file_with("negative.safetensors", {{"proj.weight", q, SafetensorsDType::i8},
                                               {"proj.weight.scale", Tensor::from_vector({0.1, -0.2, 0.3, 0.4}, {4})}}))
            .find("proj.weight.scale: scale 1 is -0.2; scales must be finite and positive") != std::string::npos);
  const Indices flat = {1, 2, 3};
  CHECK(load_error(
            file_with("flat.safetensors", {{"proj.weight", flat, SafetensorsDType::i8}, {"proj.weight.scale", scales}}))
            .find("I8 tensor 'proj.weight' is [3]; int8 weights are matrices [out, in]") != std::string::npos);
  // A good pair with a scheme this reader does not know.
  const auto unknown =
      file_with("scheme.safetensors", {{"proj.weight", q, SafetensorsDType::i8}, {"proj.weight.scale", scales}},
                {{kQuantizationKey, R"({"activations":"per_channel"})"}});
  Tiny loaded({});
  load_checkpoint(loaded, unknown);  // the float model is fine
  CHECK(loaded.proj.weight.value().at(0) == doctest::Approx(0.1));
  CHECK(loaded.proj.weight.value().at(6) == doctest::Approx(0.0));
  CHECK_THROWS_WITH_AS(load_int8_weights(loaded, unknown),
                       doctest::Contains("its \"activations\" must be \"per_row\" or \"per_tensor\""), FormatError);
}

TEST_CASE("save_checkpoint in float16 and bfloat16: about half the bytes, read back as the rounded values") {
  ScratchDir dir;
  Generator gen(9);
  Tiny model({.vocab = 50, .embed = 40, .hidden = 30}, gen);
  save_checkpoint(model, dir.path / "f32.safetensors");
  for (SafetensorsDType dtype : {SafetensorsDType::f16, SafetensorsDType::bf16}) {
    CAPTURE(safetensors_dtype_name(dtype));
    const auto path = dir.path / "half.safetensors";
    save_checkpoint(model, path, {}, dtype);
    const double ratio =
        double(std::filesystem::file_size(path)) / double(std::filesystem::file_size(dir.path / "f32.safetensors"));
    CHECK(ratio < 0.55);
    Tiny loaded({.vocab = 50, .embed = 40, .hidden = 30});
    load_checkpoint(loaded, path);
    const auto original = model.named_parameters(), back = loaded.named_parameters();
    for (std::size_t i = 0; i < original.size(); ++i) {
      const float* a = original[i].var.value().array<float>().data();
      const float* b = back[i].var.value().array<float>().data();
      for (std::size_t j = 0; j < original[i].var.size(); ++j) {
        const float rounded = dtype == SafetensorsDType::f16 ? half_to_float(float_to_half(a[j]))
                                                             : bfloat16_to_float(float_to_bfloat16(a[j]));
        REQUIRE(b[j] == rounded);
      }
    }
  }
}
