// Checkpoints of modules: save and load by PyTorch's names; every mismatch is
// an error naming the file and the key, and leaves the module as it was.
#include <doctest/doctest.h>

#include <algorithm>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "io_helpers.hpp"
#include "tapegrad.hpp"
#include "tiny.hpp"

using namespace tg;
using namespace tg::test;

namespace {

std::vector<std::vector<double>> values_of(const Module& m) {
  std::vector<std::vector<double>> out;
  for (const NamedTensor& t : m.state_dict()) out.push_back(t.value.to_vector());
  return out;
}

// The model's state dict as tensors to write by hand, so one can be changed.
std::vector<SafetensorsTensor> tensors_of(const Module& m) {
  std::vector<SafetensorsTensor> out;
  for (NamedTensor& t : m.state_dict()) out.push_back({t.name, t.value});
  return out;
}

std::vector<SafetensorsTensor>::iterator find(std::vector<SafetensorsTensor>& tensors, const std::string& name) {
  auto it = std::find_if(tensors.begin(), tensors.end(), [&](const auto& t) { return t.name == name; });
  REQUIRE(it != tensors.end());
  return it;
}

// Loads `tensors` (written to a file) into a fresh Tiny; expects a
// CheckpointError holding every phrase and the model untouched.
void expect_refused(const std::vector<SafetensorsTensor>& tensors, std::initializer_list<std::string> phrases,
                    const TinyOptions& options = {}) {
  ScratchDir dir;
  const auto path = dir.path / "bad.safetensors";
  save_safetensors(path, tensors);
  Generator gen(5);
  Tiny model(options, gen);
  const auto before = values_of(model);
  std::string message;
  try {
    load_checkpoint(model, path);
  } catch (const CheckpointError& e) {
    message = e.what();
  }
  INFO("message: ", message);
  REQUIRE(!message.empty());
  CHECK(message.find(path.string()) != std::string::npos);
  CHECK(message.find("nothing was loaded") != std::string::npos);
  for (const std::string& phrase : phrases) {
    INFO("expected phrase: ", phrase);
    CHECK(message.find(phrase) != std::string::npos);
  }
  CHECK(values_of(model) == before);
}

}  // namespace

TEST_CASE("checkpoint: save and load restore every parameter under its dotted name") {
  ScratchDir dir;
  const auto path = dir.path / "tiny.safetensors";
  Generator a(1), b(2);
  Tiny saved({}, a), loaded({}, b);
  REQUIRE(values_of(saved) != values_of(loaded));
  save_checkpoint(saved, path, {{"epoch", "3"}});

  const SafetensorsHeader header = read_safetensors_header(path);
  std::vector<std::string> names;
  for (const auto& t : header.tensors) names.push_back(t.name);
  CHECK(names == std::vector<std::string>{"embed.weight", "proj.weight", "proj.bias", "norm.weight", "norm.bias"});
  CHECK(header.metadata.at("epoch") == "3");

  LoadResult result = load_checkpoint(loaded, path);
  CHECK(result.missing_keys.empty());
  CHECK(result.unexpected_keys.empty());
  CHECK(values_of(loaded) == values_of(saved));
  Indices ids = {{1, 2, 6}};
  CHECK(loaded.forward(ids).value().to_vector() == saved.forward(ids).value().to_vector());
}

TEST_CASE("checkpoint: float64 models save F64 and load back") {
  ScratchDir dir;
  Generator a(1), b(2);
  Tiny saved({.dtype = DType::f64}, a), loaded({.dtype = DType::f64}, b);
  save_checkpoint(saved, dir.path / "tiny64.safetensors");
  CHECK(read_safetensors_header(dir.path / "tiny64.safetensors").tensors[0].dtype == SafetensorsDType::f64);
  load_checkpoint(loaded, dir.path / "tiny64.safetensors");
  CHECK(values_of(loaded) == values_of(saved));
}

TEST_CASE("checkpoint: a missing key is an error naming it; the model is unchanged") {
  Tiny source({});
  auto tensors = tensors_of(source);
  tensors.erase(find(tensors, "proj.bias"));
  expect_refused(tensors, {"missing keys", "proj.bias"});
}

TEST_CASE("checkpoint: an unexpected key is an error naming it; the model is unchanged") {
  Tiny source({});
  auto tensors = tensors_of(source);
  tensors.push_back({"head.weight", Tensor::ones({2, 2})});
  tensors.push_back({"step", Indices{3}});
  expect_refused(tensors, {"unexpected keys", "head.weight", "step"});
}

TEST_CASE("checkpoint: non-strict loads skip missing and unexpected keys and report them") {
  ScratchDir dir;
  Tiny source({});
  auto tensors = tensors_of(source);
  tensors.erase(find(tensors, "norm.weight"));
  tensors.push_back({"extra", Indices{1, 2}});
  save_safetensors(dir.path / "partial.safetensors", tensors);
  Generator gen(9);
  Tiny target({}, gen);
  const Tensor norm_weight = target.norm.weight.value();
  LoadResult result = load_checkpoint(target, dir.path / "partial.safetensors", {.strict = false});
  CHECK(result.missing_keys == std::vector<std::string>{"norm.weight"});
  CHECK(result.unexpected_keys == std::vector<std::string>{"extra"});
  CHECK(target.proj.weight.value().to_vector() == source.proj.weight.value().to_vector());
  CHECK(target.norm.weight.value().to_vector() == norm_weight.to_vector());
}

TEST_CASE("checkpoint: another float dtype is converted; with strict_dtype it is an error naming the key") {
  Tiny source({});
  SUBCASE("F64 where the model is float32: rounded to float32, or refused with strict_dtype") {
    auto tensors = tensors_of(source);
    find(tensors, "proj.weight")->value = source.proj.weight.value().to(DType::f64);
    ScratchDir dir;
    save_safetensors(dir.path / "f64.safetensors", tensors);
    Tiny target({});
    const auto before = values_of(target);
    try {
      load_checkpoint(target, dir.path / "f64.safetensors", {.strict_dtype = true});
      FAIL("no error");
    } catch (const CheckpointError& e) {
      CHECK(std::string(e.what()).find("'proj.weight' is F64 in the file, float32 in the model") != std::string::npos);
    }
    CHECK(values_of(target) == before);
    load_checkpoint(target, dir.path / "f64.safetensors");
    CHECK(target.proj.weight.dtype() == DType::f32);
    CHECK(values_of(target) == values_of(source));
  }
  SUBCASE("I64 where the model has a float parameter: always refused") {
    auto tensors = tensors_of(source);
    find(tensors, "norm.bias")->value = Indices{0, 1, 2, 3};
    expect_refused(tensors, {"dtype mismatch", "'norm.bias' is I64 in the file"});
  }
  SUBCASE("F32 into a float64 model, widened exactly") {
    ScratchDir dir;
    save_checkpoint(source, dir.path / "f32.safetensors");
    Tiny target({.dtype = DType::f64});
    load_checkpoint(target, dir.path / "f32.safetensors");
    CHECK(target.proj.weight.dtype() == DType::f64);
    CHECK(values_of(target) == values_of(source));
  }
}

TEST_CASE("checkpoint: F16 and BF16 tensors widen to float32 and load into a float32 model") {
  // proj.bias [4] as F16 (1, -2, 0.5, 0) and norm.bias as BF16 (the same values).
  Tiny source({});
  auto tensors = tensors_of(source);
  tensors.erase(find(tensors, "proj.bias"));
  tensors.erase(find(tensors, "norm.bias"));
  auto bytes = serialize_safetensors(tensors);
  // Rebuild the file with the two half tensors appended to the buffer.
  SafetensorsFile parsed = parse_safetensors(bytes);
  std::string header = "{";
  std::vector<std::uint8_t> data;
  for (std::size_t i = 0; i < parsed.header.tensors.size(); ++i) {
    const auto& e = parsed.header.tensors[i];
    header += fmt::format(R"("{}": {{"dtype": "F32", "shape": [{}], "data_offsets": [{}, {}]}}, )", e.name,
                          fmt::join(e.shape, ", "), e.begin, e.end);
  }
  const std::size_t start = parsed.header.data_bytes;
  header +=
      fmt::format(R"("proj.bias": {{"dtype": "F16", "shape": [4], "data_offsets": [{}, {}]}}, )", start, start + 8);
  header += fmt::format(R"("norm.bias": {{"dtype": "BF16", "shape": [4], "data_offsets": [{}, {}]}}}})", start + 8,
                        start + 16);
  auto file = raw_file(header);
  file.insert(file.end(), bytes.end() - static_cast<std::ptrdiff_t>(parsed.header.data_bytes), bytes.end());
  for (std::uint16_t h : {0x3c00, 0xc000, 0x3800, 0x0000, 0x3f80, 0xc000, 0x3f00, 0x0000}) {
    file.push_back(static_cast<std::uint8_t>(h & 0xff));
    file.push_back(static_cast<std::uint8_t>(h >> 8));
  }
  ScratchDir dir;
  write_bytes(dir.path / "halves.safetensors", file);
  Tiny target({});
  load_checkpoint(target, dir.path / "halves.safetensors");
  CHECK(target.proj.bias.value().to_vector() == std::vector<double>{1.0, -2.0, 0.5, 0.0});
  CHECK(target.norm.bias.value().to_vector() == std::vector<double>{1.0, -2.0, 0.5, 0.0});
  CHECK(target.proj.weight.value().to_vector() == source.proj.weight.value().to_vector());

  // Widened to float32, they load into a float64 model too, but not with strict_dtype.
  Tiny wide({.dtype = DType::f64});
  load_checkpoint(wide, dir.path / "halves.safetensors");
  CHECK(wide.norm.bias.value().to_vector() == std::vector<double>{1.0, -2.0, 0.5, 0.0});
  try {
    load_checkpoint(wide, dir.path / "halves.safetensors", {.strict_dtype = true});
    FAIL("no error");
  } catch (const CheckpointError& e) {
    CHECK(std::string(e.what()).find("'proj.bias' is F16 (read as float32) in the file, float64 in the model") !=
          std::string::npos);
  }
}

TEST_CASE("checkpoint: a shape that differs is an error naming the key; the model is unchanged") {
  Tiny source({.vocab = 9});
  auto tensors = tensors_of(source);
  expect_refused(tensors, {"shape mismatch", "'embed.weight' is [9, 5] in the file, [7, 5] in the model"});
}

TEST_CASE("checkpoint: every problem is listed at once") {
  Tiny source({});
  auto tensors = tensors_of(source);
  tensors.erase(find(tensors, "norm.bias"));
  find(tensors, "proj.bias")->value = Tensor::ones({5});
  find(tensors, "proj.weight")->value = Indices({1, 2});
  tensors.push_back({"lm_head.weight", Tensor::ones({1})});
  expect_refused(tensors, {"missing keys", "norm.bias", "unexpected keys", "lm_head.weight", "dtype mismatch",
                           "'proj.weight' is I64", "shape mismatch", "'proj.bias' is [5]"});
}

TEST_CASE("checkpoint: a malformed file is a FormatError and the model is unchanged") {
  ScratchDir dir;
  Tiny source({});
  save_checkpoint(source, dir.path / "good.safetensors");
  auto bytes = read_bytes(dir.path / "good.safetensors");
  bytes.push_back(0);  // one trailing byte
  write_bytes(dir.path / "bad.safetensors", bytes);
  Generator gen(3);
  Tiny target({}, gen);
  const auto before = values_of(target);
  try {
    load_checkpoint(target, dir.path / "bad.safetensors");
    FAIL("no error");
  } catch (const FormatError& e) {
    CHECK(std::string(e.what()).find("trailing bytes") != std::string::npos);
  }
  CHECK(values_of(target) == before);
  CHECK_THROWS_AS(load_checkpoint(target, dir.path / "absent.safetensors"), FileError);
  CHECK(values_of(target) == before);
}
