// safetensors files: round trips of every dtype, widening of F16 and BF16,
// metadata, one test per rule of a malformed file, and atomic writes.
#include <doctest/doctest.h>

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <bit>
#include <cmath>
#include <csignal>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "io_helpers.hpp"
#include "tapegrad.hpp"

using namespace tg;
using namespace tg::test;

namespace {

const Tensor& tensor_in(const SafetensorsFile& f, std::size_t i) { return std::get<Tensor>(f.tensors.at(i).value); }

std::vector<SafetensorsTensor> sample_tensors() {
  Tensor f32 = Tensor::normal({2, 3}, 0.0, 1.0, 7, DType::f32);
  f32.set(1, std::numeric_limits<double>::quiet_NaN());
  f32.set(2, -0.0);
  f32.set(3, -std::numeric_limits<double>::infinity());
  Tensor f64 = Tensor::normal({3, 1, 2}, 0.0, 1e200, 8, DType::f64);
  f64.set(0, std::numeric_limits<double>::denorm_min());
  Indices ids = {{0, -1, std::numeric_limits<std::int64_t>::max()}, {std::numeric_limits<std::int64_t>::min(), 5, 6}};
  return {{"layer.weight", f32},
          {"layer.double", f64},
          {"token_ids", ids},
          {"scalar", Tensor::scalar(4.25, DType::f32)},
          {"empty", Tensor::zeros({0, 4}, DType::f64)}};
}

void check_same(const std::vector<SafetensorsTensor>& expected, const SafetensorsFile& got) {
  REQUIRE(got.tensors.size() == expected.size());
  for (std::size_t i = 0; i < expected.size(); ++i) {
    INFO("tensor ", expected[i].name);
    CHECK(got.tensors[i].name == expected[i].name);
    REQUIRE(got.tensors[i].value.index() == expected[i].value.index());
    if (const Tensor* t = std::get_if<Tensor>(&expected[i].value)) {
      CHECK(same_bits(*t, tensor_in(got, i)));
    } else {
      CHECK(std::get<Indices>(got.tensors[i].value) == std::get<Indices>(expected[i].value));
    }
  }
}

// Both ways in: from memory and from a file; each message must hold every phrase.
void expect_malformed(const std::vector<std::uint8_t>& bytes, std::initializer_list<std::string> phrases) {
  ScratchDir dir;
  const auto path = dir.path / "bad.safetensors";
  write_bytes(path, bytes);
  for (int from_file = 0; from_file < 2; ++from_file) {
    std::string message;
    try {
      if (from_file != 0) {
        load_safetensors(path);
      } else {
        parse_safetensors(bytes, "bytes.safetensors");
      }
    } catch (const FormatError& e) {
      message = e.what();
    }
    INFO("from a file: ", from_file, "; message: ", message);
    REQUIRE(!message.empty());
    CHECK(message.find(from_file != 0 ? path.string() : std::string("bytes.safetensors")) != std::string::npos);
    for (const std::string& phrase : phrases) {
      INFO("expected phrase: ", phrase);
      CHECK(message.find(phrase) != std::string::npos);
    }
  }
  // The header-only reader (tapegrad inspect) applies the same rules.
  CHECK_THROWS_AS(read_safetensors_header(path), FormatError);
}

const std::string entry_w = R"("w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]})";

}  // namespace

TEST_CASE("safetensors: every dtype round-trips bit for bit, through memory and through a file") {
  const auto tensors = sample_tensors();
  const Metadata metadata = {{"format", "pt"}, {"step", "12"}, {"note", "ünïcode ✓"}};
  const std::vector<std::uint8_t> bytes = serialize_safetensors(tensors, metadata);
  const SafetensorsFile in_memory = parse_safetensors(bytes);
  check_same(tensors, in_memory);
  CHECK(in_memory.header.metadata == metadata);

  ScratchDir dir;
  save_safetensors(dir.path / "all.safetensors", tensors, metadata);
  CHECK(read_bytes(dir.path / "all.safetensors") == bytes);
  const SafetensorsFile from_file = load_safetensors(dir.path / "all.safetensors");
  check_same(tensors, from_file);
  CHECK(from_file.header.metadata == metadata);
  CHECK(dir.entries() == std::vector<std::string>{"all.safetensors"});

  // Stored dtypes, shapes and the layout the format prescribes.
  const auto& h = from_file.header;
  REQUIRE(h.tensors.size() == 5);
  CHECK(h.tensors[0].dtype == SafetensorsDType::f32);
  CHECK(h.tensors[1].dtype == SafetensorsDType::f64);
  CHECK(h.tensors[2].dtype == SafetensorsDType::i64);
  CHECK(h.tensors[2].shape == std::vector<std::uint64_t>{2, 3});
  CHECK(h.tensors[3].shape.empty());
  CHECK(h.tensors[3].elements == 1);
  CHECK(h.tensors[4].elements == 0);
  CHECK((8 + h.header_bytes) % 8 == 0);
  CHECK(h.header_bytes + 8 + h.data_bytes == bytes.size());
  std::uint64_t offset = 0;
  for (const auto& t : h.tensors) {
    CHECK(t.begin == offset);
    offset = t.end;
  }
  CHECK(offset == h.data_bytes);
}

TEST_CASE("safetensors: the header is compact JSON padded with spaces, metadata first") {
  const auto bytes = serialize_safetensors({{"a", Tensor::ones({1}, DType::f32)}}, {{"k", "v"}});
  std::uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | bytes[static_cast<std::size_t>(i)];
  std::string header(bytes.begin() + 8, bytes.begin() + 8 + static_cast<std::ptrdiff_t>(n));
  const std::string json = R"({"__metadata__":{"k":"v"},"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})";
  REQUIRE(header.size() >= json.size());
  CHECK(header.substr(0, json.size()) == json);
  CHECK(header.find_first_not_of(' ', json.size()) == std::string::npos);
  CHECK(n % 8 == 0);
  CHECK(parse_safetensors(bytes).header.metadata.at("k") == "v");
  // Without metadata there is no __metadata__ key, as in the reference writer.
  const auto plain = serialize_safetensors({{"a", Tensor::ones({1}, DType::f32)}});
  CHECK(std::string(plain.begin(), plain.end()).find("__metadata__") == std::string::npos);
  CHECK(parse_safetensors(plain).header.metadata.empty());
}

TEST_CASE("safetensors: F16 widens exactly, for all 65536 bit patterns") {
  for (std::uint32_t h = 0; h < 65536; ++h) {
    const bool negative = (h & 0x8000u) != 0;
    const int exponent = static_cast<int>((h >> 10) & 0x1fu);
    const int mantissa = static_cast<int>(h & 0x3ffu);
    const float got = half_to_float(static_cast<std::uint16_t>(h));
    if (exponent == 31 && mantissa != 0) {
      REQUIRE(std::isnan(got));
      CHECK(std::signbit(got) == negative);
      continue;
    }
    // IEEE binary16: subnormals m * 2^-24, normals (1024 + m) * 2^(e - 25).
    double expected = exponent == 31  ? std::numeric_limits<double>::infinity()
                      : exponent == 0 ? std::ldexp(mantissa, -24)
                                      : std::ldexp(1024 + mantissa, exponent - 25);
    if (negative) expected = -expected;
    INFO("half bits ", h);
    REQUIRE(bits_of(got) == bits_of(static_cast<float>(expected)));
  }
}

TEST_CASE("safetensors: BF16 widens exactly, subnormals, infinities and NaN included") {
  for (std::uint32_t h = 0; h < 65536; ++h) {
    const int exponent = static_cast<int>((h >> 7) & 0xffu);
    const int mantissa = static_cast<int>(h & 0x7fu);
    const float got = bfloat16_to_float(static_cast<std::uint16_t>(h));
    if (exponent == 255 && mantissa != 0) {
      REQUIRE(std::isnan(got));
      continue;
    }
    double expected = exponent == 255 ? std::numeric_limits<double>::infinity()
                      : exponent == 0 ? std::ldexp(mantissa, -133)
                                      : std::ldexp(128 + mantissa, exponent - 134);
    if ((h & 0x8000u) != 0) expected = -expected;
    INFO("bfloat16 bits ", h);
    REQUIRE(bits_of(got) == bits_of(static_cast<float>(expected)));
  }
}

TEST_CASE("safetensors: F16 and BF16 tensors are read as float32") {
  // 1, -2, the smallest subnormal, -inf, NaN in each format.
  const std::uint16_t f16[] = {0x3c00, 0xc000, 0x0001, 0xfc00, 0x7e00};
  const std::uint16_t bf16[] = {0x3f80, 0xc000, 0x0001, 0xff80, 0x7fc0};
  std::string header = R"({"h": {"dtype": "F16", "shape": [5], "data_offsets": [0, 10]},)"
                       R"( "b": {"dtype": "BF16", "shape": [5, 1], "data_offsets": [10, 20]}})";
  auto bytes = raw_file(header);
  for (auto* values : {f16, bf16}) {
    for (int i = 0; i < 5; ++i) {
      bytes.push_back(static_cast<std::uint8_t>(values[i] & 0xff));
      bytes.push_back(static_cast<std::uint8_t>(values[i] >> 8));
    }
  }
  const SafetensorsFile f = parse_safetensors(bytes);
  REQUIRE(f.tensors.size() == 2);
  CHECK(f.header.tensors[0].dtype == SafetensorsDType::f16);
  CHECK(f.header.tensors[1].dtype == SafetensorsDType::bf16);
  const Tensor& h = tensor_in(f, 0);
  const Tensor& b = tensor_in(f, 1);
  CHECK(h.dtype() == DType::f32);
  CHECK(b.dtype() == DType::f32);
  CHECK(b.shape() == Shape{5, 1});
  for (std::size_t i = 0; i < 5; ++i) {
    CHECK(bits_of(h.array<float>().flat(i)) == bits_of(half_to_float(f16[i])));
    CHECK(bits_of(b.array<float>().flat(i)) == bits_of(bfloat16_to_float(bf16[i])));
  }
  CHECK(h.at(0) == 1.0);
  CHECK(h.at(2) == std::ldexp(1.0, -24));
  CHECK(b.at(2) == std::ldexp(1.0, -133));
  CHECK(std::isinf(h.at(3)));
  CHECK(std::isnan(b.at(4)));
}

TEST_CASE("safetensors: a file of tensors that tile the buffer in any header order is accepted") {
  // The header lists b first; b's bytes come second. Zero-size tensors may sit anywhere.
  std::string header = R"({"b": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]},)"
                       R"( "z": {"dtype": "I64", "shape": [0, 7], "data_offsets": [4, 4]},)"
                       R"( "a": {"dtype": "F32", "shape": [], "data_offsets": [0, 4]},)"
                       R"( "__metadata__": null})";
  const SafetensorsFile f = parse_safetensors(raw_file(header + "   ", 8));
  REQUIRE(f.tensors.size() == 3);
  CHECK(f.tensors[0].name == "a");
  CHECK(f.tensors[1].name == "z");
  CHECK(std::get<Indices>(f.tensors[1].value).shape() == std::vector<std::size_t>{0, 7});
  CHECK(f.tensors[2].name == "b");
  CHECK(f.header.metadata.empty());
}

TEST_CASE("safetensors: BOOL is read as int64 0 and 1; any other byte is named with its offset") {
  std::string header = R"({"mask": {"dtype": "BOOL", "shape": [2, 2], "data_offsets": [0, 4]}})";
  header += std::string((8 - header.size() % 8) % 8, ' ');
  std::vector<std::uint8_t> bytes = raw_file(header, 4);
  const std::size_t data_start = 8 + header.size();
  for (std::size_t i = 0; i < 4; ++i) bytes[data_start + i] = i == 2 ? 1 : 0;
  const SafetensorsFile f = parse_safetensors(bytes);
  CHECK(f.header.tensors[0].dtype == SafetensorsDType::boolean);
  CHECK(std::get<Indices>(f.tensors[0].value) == Indices{{0, 0}, {1, 0}});
  bytes[data_start + 3] = 2;
  ScratchDir dir;
  write_bytes(dir.path / "mask.safetensors", bytes);
  for (const auto& read :
       std::vector<std::function<void()>>{[&] { parse_safetensors(bytes, "mask.safetensors"); },
                                          [&] { load_safetensors(dir.path / "mask.safetensors"); }}) {
    std::string message;
    try {
      read();
    } catch (const FormatError& e) {
      message = e.what();
    }
    INFO("message: ", message);
    CHECK(message.find("mask.safetensors") != std::string::npos);
    CHECK(message.find("tensor 'mask': BOOL element 3 is byte 2 at file byte offset " + std::to_string(data_start + 3) +
                       "; a BOOL is 0 or 1") != std::string::npos);
  }
  // The header alone is well formed: a data byte is not the header's rule.
  CHECK(read_safetensors_header(dir.path / "mask.safetensors").tensors.size() == 1);
}

TEST_CASE("safetensors: malformed files, one rule each") {
  SUBCASE("file shorter than 8 bytes") {
    expect_malformed({1, 2, 3}, {"3 bytes long", "shorter than the 8-byte header length"});
    expect_malformed({}, {"0 bytes long", "shorter than the 8-byte header length"});
  }
  SUBCASE("header length past the end") {
    expect_malformed(raw_file("{}", 0, 3), {"header length 3 runs past the end of the file"});
    expect_malformed(raw_file("{}", 0, 1000000), {"runs past the end of the file"});
  }
  SUBCASE("header length over 100 MB") {
    expect_malformed(raw_file("{}", 0, 100'000'001), {"header length 100000001 is over the limit", "100 MB"});
    expect_malformed(raw_file("{}", 0, UINT64_MAX - 1), {"over the limit"});
  }
  SUBCASE("header not UTF-8") {
    expect_malformed(raw_file("{\"w\xff\": 1}"),
                     {"header is not UTF-8", "0xff", "header byte 3", "file byte offset 11"});
    expect_malformed(raw_file("{\"\xc0\x80\": 1}"), {"header is not UTF-8", "0xc0"});      // overlong NUL
    expect_malformed(raw_file("{\"\xed\xa0\x80\": 1}"), {"header is not UTF-8", "0xed"});  // a surrogate
    expect_malformed(raw_file("{\"\xe2\x82\": 1}"), {"header is not UTF-8"});              // cut short
  }
  SUBCASE("header not JSON") {
    expect_malformed(raw_file("{\"w\": "), {"header is not valid JSON"});
    expect_malformed(raw_file("{} {}"), {"header is not valid JSON"});
    expect_malformed(raw_file(""), {"header is not valid JSON"});
    // nlohmann reports a number past the double range as out_of_range (found by the fuzzer).
    expect_malformed(raw_file(R"({"w": {"dtype": "F32", "shape": [1e3627776], "data_offsets": [0, 4]}})", 4),
                     {"header is not valid JSON", "number overflow"});
  }
  SUBCASE("header not an object") {
    expect_malformed(raw_file("[1, 2]"), {"not the safetensors schema", "must be a JSON object", "array"});
    expect_malformed(raw_file("\"text\""), {"must be a JSON object", "string"});
  }
  SUBCASE("entry not an object") { expect_malformed(raw_file(R"({"w": [0, 4]})", 4), {"tensor 'w'", "not an object"}); }
  SUBCASE("missing field") {
    expect_malformed(raw_file(R"({"w": {"dtype": "F32", "shape": [1]}})", 4),
                     {"tensor 'w'", "missing field 'data_offsets'"});
    expect_malformed(raw_file(R"({"w": {"shape": [1], "data_offsets": [0, 4]}})", 4),
                     {"tensor 'w'", "missing field 'dtype'"});
    expect_malformed(raw_file(R"({"w": {"dtype": "F32", "data_offsets": [0, 4]}})", 4),
                     {"tensor 'w'", "missing field 'shape'"});
  }
  SUBCASE("extra field") {
    expect_malformed(raw_file(R"({"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4], "stride": [1]}})", 4),
                     {"tensor 'w'", "unexpected field 'stride'"});
  }
  SUBCASE("dtype not a string") {
    expect_malformed(raw_file(R"({"w": {"dtype": 4, "shape": [1], "data_offsets": [0, 4]}})", 4),
                     {"tensor 'w'", "dtype must be a string"});
  }
  SUBCASE("unknown dtype") {
    expect_malformed(raw_file(R"({"w": {"dtype": "Q4", "shape": [1], "data_offsets": [0, 4]}})", 4),
                     {"tensor 'w'", "unknown dtype 'Q4'"});
    expect_malformed(raw_file(R"({"w": {"dtype": "f32", "shape": [1], "data_offsets": [0, 4]}})", 4),
                     {"tensor 'w'", "unknown dtype 'f32'"});
  }
  SUBCASE("shape not a list of non-negative integers") {
    for (const char* shape : {"[-1]", "[1.5]", "\"3\"", "[true]", "3", "[null]", "[18446744073709551616]"}) {
      INFO("shape ", shape);
      expect_malformed(
          raw_file(std::string(R"({"w": {"dtype": "F32", "shape": )") + shape + R"(, "data_offsets": [0, 4]}})", 4),
          {"tensor 'w'", "shape must be a list of non-negative integers"});
    }
  }
  SUBCASE("offsets not two integers") {
    for (const char* offsets : {"[0]", "[0, 4, 8]", "[0, -4]", "[0.0, 4]", "\"0-4\"", "{}", "[\"0\", 4]"}) {
      INFO("offsets ", offsets);
      expect_malformed(
          raw_file(std::string(R"({"w": {"dtype": "F32", "shape": [1], "data_offsets": )") + offsets + "}}", 4),
          {"tensor 'w'", "data_offsets must be two non-negative integers"});
    }
  }
  SUBCASE("offsets out of range") {
    expect_malformed(raw_file(R"({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}})", 4),
                     {"tensor 'w'", "data_offsets [0, 8] out of range", "holds 4 bytes", "file byte offset"});
  }
  SUBCASE("begin > end") {
    expect_malformed(raw_file(R"({"w": {"dtype": "F32", "shape": [0], "data_offsets": [4, 0]}})", 4),
                     {"tensor 'w'", "begin 4 > end 0"});
  }
  SUBCASE("overlapping tensors") {
    expect_malformed(raw_file(R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},)"
                              R"( "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}})",
                              12),
                     {"overlapping tensors", "tensor 'b'", "tensor 'a'", "file byte offset"});
    // The same bytes named twice.
    expect_malformed(raw_file(R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},)"
                              R"( "b": {"dtype": "I64", "shape": [0], "data_offsets": [2, 2]}})",
                              4),
                     {"overlapping tensors", "tensor 'b'"});
  }
  SUBCASE("gap between tensors") {
    expect_malformed(raw_file(R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},)"
                              R"( "b": {"dtype": "F32", "shape": [1], "data_offsets": [8, 12]}})",
                              12),
                     {"gap in the data buffer", "bytes [4, 8)", "before tensor 'b'", "file byte offset"});
    expect_malformed(raw_file(R"({"w": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}})", 8),
                     {"gap in the data buffer", "bytes [0, 4)", "before tensor 'w'"});
  }
  SUBCASE("tensors not covering the buffer: trailing bytes") {
    expect_malformed(raw_file("{" + entry_w + "}", 12), {"trailing bytes", "cover 8 bytes", "holds 12", "4 bytes"});
    expect_malformed(raw_file("{}", 1), {"trailing bytes"});
  }
  SUBCASE("byte count not shape times dtype size") {
    expect_malformed(raw_file(R"({"w": {"dtype": "F64", "shape": [2, 3], "data_offsets": [0, 24]}})", 24),
                     {"tensor 'w'", "byte count mismatch", "hold 24 bytes", "needs 48"});
  }
  SUBCASE("element count overflow") {
    expect_malformed(
        raw_file(R"({"w": {"dtype": "F32", "shape": [1099511627776, 1099511627776], "data_offsets": [0, 4]}})", 4),
        {"tensor 'w'", "element count overflow"});
    // 2^63 elements fit, their 2^65 bytes do not.
    expect_malformed(
        raw_file(R"({"w": {"dtype": "F32", "shape": [4611686018427387904, 2], "data_offsets": [0, 4]}})", 4),
        {"tensor 'w'", "element count overflow"});
    // A zero makes the count 0, but the other sizes still make strides, which must not overflow.
    expect_malformed(
        raw_file(R"({"w": {"dtype": "F32", "shape": [0, 1099511627776, 1099511627776], "data_offsets": [0, 0]}})"),
        {"tensor 'w'", "element count overflow"});
    const auto empty = parse_safetensors(
        raw_file(R"({"w": {"dtype": "F32", "shape": [1099511627776, 0, 1000], "data_offsets": [0, 0]}})"));
    CHECK(empty.header.tensors.at(0).elements == 0);
    CHECK(tensor_in(empty, 0).shape() == Shape{1099511627776, 0, 1000});
  }
  SUBCASE("duplicate names") {
    expect_malformed(raw_file("{" + entry_w + ", " + entry_w + "}", 8), {"duplicate name", "tensor 'w'"});
    expect_malformed(raw_file(R"({"w": {"dtype": "F32", "dtype": "F32", "shape": [2], "data_offsets": [0, 8]}})", 8),
                     {"tensor 'w'", "duplicate key 'dtype'"});
    expect_malformed(raw_file(R"({"__metadata__": {"k": "a", "k": "b"}})"), {"__metadata__", "duplicate key 'k'"});
  }
  SUBCASE("metadata not an object of strings") {
    expect_malformed(raw_file(R"({"__metadata__": {"step": 3}})"), {"__metadata__ 'step' must be a string"});
    expect_malformed(raw_file(R"({"__metadata__": ["a"]})"), {"__metadata__ must be an object of strings"});
  }
  SUBCASE("nesting deeper than the schema") {
    expect_malformed(raw_file(R"({"w": {"dtype": "F32", "shape": [[2]], "data_offsets": [0, 8]}})", 8),
                     {"tensor 'w'", "nest deeper"});
    expect_malformed(raw_file(std::string(100000, '[') + std::string(100000, ']')), {"nest deeper"});
  }
}

TEST_CASE("safetensors: a file that is not there, or a folder, is a FileError naming it") {
  ScratchDir dir;
  try {
    load_safetensors(dir.path / "absent.safetensors");
    FAIL("no error");
  } catch (const FileError& e) {
    CHECK(std::string(e.what()).find("absent.safetensors") != std::string::npos);
  }
  CHECK_THROWS_AS(load_safetensors(dir.path), FileError);
}

TEST_CASE("safetensors: a FIFO or a folder is refused before it is opened, saying what it is") {
  ScratchDir dir;
  const auto fifo = dir.path / "pipe.safetensors";
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  // Held open for writing, so that a reader that opens before checking fails here instead of
  // blocking the suite (opening a FIFO with no writer blocks).
  const int writer = ::open(fifo.c_str(), O_RDWR | O_NONBLOCK);
  REQUIRE(writer >= 0);
  auto refused = [](const std::function<void()>& read, const std::string& name, const std::string& kind) {
    try {
      read();
      FAIL("no error");
    } catch (const FileError& e) {
      const std::string what = e.what();
      CHECK_MESSAGE(what.find("'" + name) != std::string::npos, what);
      CHECK_MESSAGE(what.find("it is " + kind + ", not a regular file") != std::string::npos, what);
    }
  };
  refused([&] { read_safetensors_header(fifo); }, fifo.string(), "a FIFO (named pipe)");
  refused([&] { load_safetensors(fifo); }, fifo.string(), "a FIFO (named pipe)");
  refused([&] { check_regular_file(dir.path); }, dir.path.string(), "a folder");
  refused([&] { check_regular_file("/dev/null"); }, "/dev/null", "a character device");
  ::close(writer);
}

TEST_CASE("safetensors: the writer refuses undefined tensors, duplicate and reserved names") {
  auto message = [](const std::vector<SafetensorsTensor>& tensors) {
    try {
      serialize_safetensors(tensors);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  CHECK(message({{"w", Tensor()}}).find("tensor 'w' is undefined") != std::string::npos);
  CHECK(message({{"w", Tensor::ones({1})}, {"w", Tensor::ones({1})}}).find("tensor 'w' is named twice") !=
        std::string::npos);
  CHECK(message({{"__metadata__", Tensor::ones({1})}}).find("'__metadata__'") != std::string::npos);
  CHECK(message({{"bad\xff", Tensor::ones({1})}}).find("not UTF-8") != std::string::npos);
}

TEST_CASE("safetensors: writing into a missing folder throws, names the file, leaves nothing") {
  ScratchDir dir;
  const auto path = dir.path / "missing" / "model.safetensors";
  try {
    save_safetensors(path, sample_tensors());
    FAIL("no error");
  } catch (const FileError& e) {
    CHECK(std::string(e.what()).find(path.string()) != std::string::npos);
  }
  CHECK(dir.entries().empty());
}

TEST_CASE("safetensors: a save that fails keeps the previous file and leaves no temporary") {
  ScratchDir dir;
  const auto path = dir.path / "model.safetensors";
  save_safetensors(path, {{"old", Tensor::ones({4}, DType::f32)}}, {{"version", "1"}});
  const auto before = read_bytes(path);
  const std::vector<SafetensorsTensor> big = {{"new", Tensor::zeros({64, 1024}, DType::f64)}};

  SUBCASE("the disk refuses the bytes (file-size limit: write fails with EFBIG, even as root)") {
    struct rlimit saved {};
    REQUIRE(::getrlimit(RLIMIT_FSIZE, &saved) == 0);
    auto old_handler = std::signal(SIGXFSZ, SIG_IGN);
    struct rlimit small = saved;
    small.rlim_cur = 4096;
    REQUIRE(::setrlimit(RLIMIT_FSIZE, &small) == 0);
    std::string message;
    try {
      save_safetensors(path, big);
    } catch (const FileError& e) {
      message = e.what();
    }
    ::setrlimit(RLIMIT_FSIZE, &saved);
    std::signal(SIGXFSZ, old_handler);
    INFO(message);
    CHECK(message.find(path.string()) != std::string::npos);
    CHECK(message.find("write failed") != std::string::npos);
  }
  SUBCASE("a tensor the writer refuses") {
    CHECK_THROWS_AS(save_safetensors(path, {{"new", Tensor::ones({2})}, {"broken", Tensor()}}), Error);
  }
  SUBCASE("the target is a folder: the rename fails") {
    const auto folder = dir.path / "folder.safetensors";
    std::filesystem::create_directory(folder);
    CHECK_THROWS_AS(save_safetensors(folder, big), FileError);
    CHECK(std::filesystem::is_directory(folder));
    std::filesystem::remove(folder);
  }
  CHECK(read_bytes(path) == before);
  CHECK(dir.entries() == std::vector<std::string>{"model.safetensors"});
  CHECK(load_safetensors(path).header.metadata.at("version") == "1");
}

TEST_CASE("safetensors: a save replaces the file whole") {
  ScratchDir dir;
  const auto path = dir.path / "model.safetensors";
  save_safetensors(path, {{"old", Tensor::ones({1000}, DType::f64)}});
  save_safetensors(path, {{"new", Tensor::full({2}, 3.0, DType::f32)}});
  const SafetensorsFile f = load_safetensors(path);
  REQUIRE(f.tensors.size() == 1);
  CHECK(f.tensors[0].name == "new");
  CHECK(tensor_in(f, 0).to_vector() == std::vector<double>{3.0, 3.0});
  CHECK(dir.entries() == std::vector<std::string>{"model.safetensors"});
}

TEST_CASE("safetensors: float_to_half rounds to nearest even, for every half and every midpoint") {
  for (std::uint32_t h = 0; h < 65536; ++h) {
    const float x = half_to_float(static_cast<std::uint16_t>(h));
    INFO("half bits ", h);
    if (std::isnan(x)) {
      REQUIRE(std::isnan(half_to_float(float_to_half(x))));
      continue;
    }
    REQUIRE(float_to_half(x) == h);
    const std::uint32_t magnitude = h & 0x7fffu;
    if (magnitude >= 0x7bffu) continue;  // the largest finite half and infinity have no next finite half
    // The midpoint to the next half away from zero (exact in float32) goes to the even one;
    // a hair either side of it goes to the nearer one.
    const float next = half_to_float(static_cast<std::uint16_t>(h + 1));
    const float middle = static_cast<float>((double(x) + double(next)) / 2);
    const std::uint16_t even = (h & 1u) == 0 ? static_cast<std::uint16_t>(h) : static_cast<std::uint16_t>(h + 1);
    REQUIRE(float_to_half(middle) == even);
    REQUIRE(float_to_half(std::nextafter(middle, x)) == h);
    REQUIRE(float_to_half(std::nextafter(middle, next)) == h + 1);
  }
  CHECK(float_to_half(65519.99f) == 0x7bff);
  CHECK(float_to_half(65520.0f) == 0x7c00);
  CHECK(float_to_half(-1e30f) == 0xfc00);
  CHECK(float_to_half(std::ldexp(1.0f, -26)) == 0);  // under half the smallest subnormal
}

TEST_CASE("safetensors: float_to_bfloat16 rounds to nearest even, for every bfloat16 and every midpoint") {
  for (std::uint32_t h = 0; h < 65536; ++h) {
    const float x = bfloat16_to_float(static_cast<std::uint16_t>(h));
    INFO("bfloat16 bits ", h);
    if (std::isnan(x)) {
      REQUIRE(std::isnan(bfloat16_to_float(float_to_bfloat16(x))));
      continue;
    }
    REQUIRE(float_to_bfloat16(x) == h);
    if ((h & 0x7fffu) >= 0x7f7fu) continue;
    const float next = bfloat16_to_float(static_cast<std::uint16_t>(h + 1));
    const float middle = std::bit_cast<float>(static_cast<std::uint32_t>(h) << 16 | 0x8000u);
    REQUIRE(middle > std::min(x, next));
    REQUIRE(middle < std::max(x, next));
    const std::uint16_t even = (h & 1u) == 0 ? static_cast<std::uint16_t>(h) : static_cast<std::uint16_t>(h + 1);
    REQUIRE(float_to_bfloat16(middle) == even);
    REQUIRE(float_to_bfloat16(std::nextafter(middle, x)) == h);
    REQUIRE(float_to_bfloat16(std::nextafter(middle, next)) == h + 1);
  }
}

TEST_CASE("safetensors: stored_as writes F16, BF16, I8 and BOOL, and reads back what they hold") {
  Tensor weights = Tensor::from_vector({1.0, -2.5, 1e-8, 70000.0, 0.1}, {5});
  const Indices small = {{-128, 127}, {0, -1}};
  const std::int64_t values[] = {-128, 127, 0, -1};
  const Indices flags = {1, 0, 1};
  const std::vector<SafetensorsTensor> tensors = {{"h", weights, SafetensorsDType::f16},
                                                  {"b", weights, SafetensorsDType::bf16},
                                                  {"q", small, SafetensorsDType::i8},
                                                  {"m", flags, SafetensorsDType::boolean},
                                                  {"f", weights}};
  const std::vector<std::uint8_t> bytes = serialize_safetensors(tensors);
  const SafetensorsFile f = parse_safetensors(bytes);
  REQUIRE(f.tensors.size() == 5);
  CHECK(f.header.tensors[0].dtype == SafetensorsDType::f16);
  CHECK(f.header.tensors[0].end - f.header.tensors[0].begin == 10);
  CHECK(f.header.tensors[1].dtype == SafetensorsDType::bf16);
  CHECK(f.header.tensors[2].dtype == SafetensorsDType::i8);
  CHECK(f.header.tensors[2].end - f.header.tensors[2].begin == 4);
  CHECK(f.header.tensors[3].dtype == SafetensorsDType::boolean);
  for (std::size_t i = 0; i < 5; ++i) {
    const float x = weights.array<float>().flat(i);
    CHECK(bits_of(tensor_in(f, 0).array<float>().flat(i)) == bits_of(half_to_float(float_to_half(x))));
    CHECK(bits_of(tensor_in(f, 1).array<float>().flat(i)) == bits_of(bfloat16_to_float(float_to_bfloat16(x))));
    CHECK(bits_of(tensor_in(f, 4).array<float>().flat(i)) == bits_of(x));
  }
  CHECK(std::isinf(tensor_in(f, 0).at(3)));  // beyond the largest half
  const Indices& q = std::get<Indices>(f.tensors[2].value);
  CHECK(q.shape() == Shape{2, 2});
  CHECK(std::vector<std::int64_t>(q.data(), q.data() + 4) == std::vector<std::int64_t>(values, values + 4));
  const Indices& m = std::get<Indices>(f.tensors[3].value);
  CHECK(std::vector<std::int64_t>(m.data(), m.data() + 3) == std::vector<std::int64_t>{1, 0, 1});
}

TEST_CASE("safetensors: stored_as refuses values that do not fit, naming the tensor and the element") {
  auto message = [](const SafetensorsTensor& t) {
    try {
      serialize_safetensors({t});
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  const Indices wide = {3, 128, 0};
  CHECK(
      message({"q", wide, SafetensorsDType::i8}).find("tensor 'q': element 1 is 128, outside I8's range [-128, 127]") !=
      std::string::npos);
  CHECK(message({"m", wide, SafetensorsDType::boolean}).find("element 0 is 3, outside BOOL's range [0, 1]") !=
        std::string::npos);
  CHECK(message({"w", Tensor::ones({2}), SafetensorsDType::i8})
            .find("tensor 'w' holds floating-point values and cannot be stored as I8") != std::string::npos);
  CHECK(message({"i", wide, SafetensorsDType::f16}).find("tensor 'i' holds integers and cannot be stored as F16") !=
        std::string::npos);
}
