// Vocab: specials, the build order, encode/decode, and the JSON round trip
// with every malformed input.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "data_helpers.hpp"
#include "tapegrad/data/vocab.hpp"

using namespace tg;
using namespace tg::test;

namespace {

Vocab sample() {
  // Counts: a 4, b 3, c 3, d 1, "<unk>" (a special) 1.
  return Vocab::build({{"a", "b", "c", "a"}, {"c", "b", "a"}, {"b", "c", "a", "d", "<unk>"}}, 2);
}

}  // namespace

TEST_CASE("specials sit at fixed ids") {
  const Vocab v;
  CHECK(v.size() == 4);
  CHECK(v.tokens() == std::vector<std::string>{"<pad>", "<s>", "</s>", "<unk>"});
  CHECK(v.id("<pad>") == Vocab::pad_id);
  CHECK(v.id("<s>") == Vocab::bos_id);
  CHECK(v.id("</s>") == Vocab::eos_id);
  CHECK(v.id("<unk>") == Vocab::unk_id);
  CHECK(v.id("x") == Vocab::unk_id);
  CHECK_FALSE(v.contains("x"));
}

TEST_CASE("build orders by descending count, then by bytes, and drops rare tokens") {
  const Vocab v = sample();
  // b and c tie at 3: "b" < "c". d (1) is below min_count 2; <unk> is not added twice.
  CHECK(v.tokens() == std::vector<std::string>{"<pad>", "<s>", "</s>", "<unk>", "a", "b", "c"});
  CHECK(v.id("a") == 4);
  CHECK(v.id("d") == Vocab::unk_id);
  CHECK(v.token(6) == "c");
  CHECK(Vocab::build({{"z", "y"}, {"y"}}, 0).tokens().back() == "z");  // min_count 0 counts as 1
  // Ties by bytes, not by first appearance: the same data in another order gives the same ids.
  CHECK(Vocab::build({{"q", "p"}}) == Vocab::build({{"p", "q"}}));
}

TEST_CASE("encode and decode") {
  const Vocab v = sample();
  CHECK(v.encode({"a", "d", "c"}) == std::vector<std::int64_t>{4, Vocab::unk_id, 6});
  const std::vector<std::int64_t> ids{Vocab::bos_id, 4, Vocab::pad_id, 5, Vocab::unk_id, Vocab::eos_id, 6, 6};
  CHECK(v.decode(ids) == std::vector<std::string>{"a", "b", "<unk>"});
  CHECK(v.decode(std::vector<std::int64_t>{}).empty());
  expect_error<IndexError>([&] { v.token(7); }, {"token id 7", "[0, 7)"});
  expect_error<IndexError>([&] { v.token(-1); }, {"token id -1"});
  expect_error<IndexError>([&] { v.decode(std::vector<std::int64_t>{4, 99}); }, {"token id 99"});
}

TEST_CASE("build refuses empty and non-UTF-8 tokens") {
  expect_error<DataError>([] { Vocab::build({{"a"}, {"b", ""}}); }, {"sequence 1 position 1", "empty token"});
  expect_error<DataError>([] { Vocab::build({{"a\xFF"}}); }, {"sequence 0 position 0", "not UTF-8", "byte offset 1"});
}

TEST_CASE("JSON round trip") {
  const Vocab v = Vocab::build({{"\xC3\xA9", "\"", "\\", "a b"}});
  const std::string json = v.to_json();
  CHECK(json.find("\"format\":\"tapegrad.vocab\"") != std::string::npos);
  const Vocab back = Vocab::from_json(json);
  CHECK(back == v);
  CHECK(back.id("\xC3\xA9") == v.id("\xC3\xA9"));
  CHECK(Vocab::from_json(Vocab().to_json()) == Vocab());
}

TEST_CASE("malformed vocabulary JSON is refused with what is wrong") {
  const std::string head = R"({"format": "tapegrad.vocab", "version": 1, )";
  const std::string specials = R"("<pad>", "<s>", "</s>", "<unk>")";
  expect_error<DataError>([] { Vocab::from_json(R"({"format": )"); }, {"vocabulary JSON", "not JSON at byte offset"});
  expect_error<DataError>([] { Vocab::from_json("[1, 2]"); }, {"expected an object, got array"});
  expect_error<DataError>([&] { Vocab::from_json(R"({"format": "other", "version": 1, "tokens": []})"); },
                          {"\"format\" must be \"tapegrad.vocab\""});
  expect_error<DataError>([&] { Vocab::from_json(R"({"version": 1, "tokens": []})"); }, {"\"format\""});
  expect_error<DataError>([&] { Vocab::from_json(R"({"format": "tapegrad.vocab", "version": 2, "tokens": []})"); },
                          {"\"version\" must be 1 (got 2)"});
  expect_error<DataError>([&] { Vocab::from_json(R"({"format": "tapegrad.vocab", "tokens": []})"); },
                          {"\"version\" must be 1 (got nothing)"});
  expect_error<DataError>([&] { Vocab::from_json(head + R"("tokens": "abc"})"); }, {"\"tokens\" must be an array"});
  expect_error<DataError>([&] { Vocab::from_json(R"({"format": "tapegrad.vocab", "version": 1})"); },
                          {"\"tokens\" must be an array"});
  expect_error<DataError>([&] { Vocab::from_json(head + R"("tokens": [)" + specials + ", 5]}"); },
                          {"\"tokens\"[4] is a number, not a string"});
  expect_error<DataError>([&] { Vocab::from_json(head + R"("tokens": ["<pad>", "<s>", "<unk>", "</s>"]})"); },
                          {"first tokens must be the specials"});
  expect_error<DataError>([&] { Vocab::from_json(head + R"("tokens": ["<pad>"]})"); },
                          {"first tokens must be the specials"});
  expect_error<DataError>([&] { Vocab::from_json(head + R"("tokens": [)" + specials + R"(, "a", "b", "a"]})"); },
                          {"vocabulary token 6 'a' repeats token 4"});
  expect_error<DataError>([&] { Vocab::from_json(head + R"("tokens": [)" + specials + R"(, ""]})"); },
                          {"vocabulary token 4", "empty token"});
  expect_error<DataError>(
      [&] {
        Vocab::from_tokens({"<pad>", "<s>", "</s>", "<unk>", "<s>"});
      },
      {"vocabulary token 4 '<s>' repeats token 1"});
}
