// Parallel corpora: both tokenizations, line endings, and every refusal.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "data_helpers.hpp"
#include "tapegrad/data/tsv.hpp"
#include "tapegrad/io/safetensors.hpp"

using namespace tg;
using namespace tg::test;

using Strings = std::vector<std::string>;

TEST_CASE("characters keep every code point, spaces included") {
  DataScratch dir;
  const auto path = dir.write("chars.tsv", "ab c\t\xC3\xA9 \nxy\tz\n");
  const auto pairs = read_tsv(path, Tokenization::characters);
  REQUIRE(pairs.size() == 2);
  CHECK(pairs[0].source == Strings{"a", "b", " ", "c"});
  CHECK(pairs[0].target == Strings{"\xC3\xA9", " "});
  CHECK(pairs[0].line == 1);
  CHECK(pairs[1].source == Strings{"x", "y"});
  CHECK(pairs[1].target == Strings{"z"});
  CHECK(pairs[1].line == 2);
}

TEST_CASE("whitespace tokens drop runs of blanks") {
  const auto pairs = parse_tsv("  the  cat \tle\vchat \f \n", Tokenization::whitespace);
  REQUIRE(pairs.size() == 1);
  CHECK(pairs[0].source == Strings{"the", "cat"});
  CHECK(pairs[0].target == Strings{"le", "chat"});
  CHECK(tokenize("a  b", Tokenization::whitespace) == Strings{"a", "b"});
  CHECK(tokenize("a  b", Tokenization::characters) == Strings{"a", " ", " ", "b"});
}

TEST_CASE("CRLF, a missing final newline, and a byte order mark") {
  const std::string crlf =
      "\xEF\xBB\xBF"
      "ab\tcd\r\nef\tgh";
  for (Tokenization t : {Tokenization::characters, Tokenization::whitespace}) {
    const auto pairs = parse_tsv(crlf, t);
    REQUIRE(pairs.size() == 2);
    CHECK(pairs[0].target == (t == Tokenization::characters ? Strings{"c", "d"} : Strings{"cd"}));
    CHECK(pairs[1].target == (t == Tokenization::characters ? Strings{"g", "h"} : Strings{"gh"}));
  }
  // A CR that ends the text ends the last line too, whether the file has a BOM or not.
  for (const std::string& text : {std::string("ab\tcd\r"),
                                  std::string("\xEF\xBB\xBF"
                                              "ab\tcd\r"),
                                  std::string("ab\tcd\r\nef\tgh\r")}) {
    const auto pairs = parse_tsv(text, Tokenization::characters);
    CHECK(pairs[0].target == Strings{"c", "d"});
    CHECK(pairs.back().target.back() != "\r");
  }
  // A lone CR inside a line is a character, not a line ending.
  CHECK(parse_tsv("a\rb\tc", Tokenization::characters)[0].source == Strings{"a", "\r", "b"});
}

TEST_CASE("a missing file is a FileError naming the path") {
  DataScratch dir;
  const auto path = dir.path / "nowhere.tsv";
  expect_error<FileError>([&] { read_tsv(path, Tokenization::characters); }, {path.string(), "cannot open"});
  expect_error<FileError>([&] { read_tsv(dir.path, Tokenization::characters); },
                          {dir.path.string(), "not a regular file"});
}

TEST_CASE("malformed lines name the file, the line and the byte offset") {
  DataScratch dir;
  auto check = [&](const std::string& bytes, std::initializer_list<std::string> phrases) {
    const auto path = dir.write("bad.tsv", bytes);
    std::vector<std::string> all(phrases);
    all.push_back(path.string() + ":");
    std::string message;
    try {
      read_tsv(path, Tokenization::characters);
    } catch (const DataError& e) {
      message = e.what();
    }
    INFO("message: ", message);
    REQUIRE_FALSE(message.empty());
    for (const std::string& p : all) CHECK(message.find(p) != std::string::npos);
  };
  check("a\tb\nno tab here\n", {":2:", "found 0 TABs", "byte offset 4"});
  check("a\tb\tc\n", {":1:", "found 2 TABs"});
  check("a\tb\n\nc\td\n", {":2:", "found 0 TABs"});
  check("a\tb\r\n\tx\r\n", {":2:", "the source side is empty", "byte offset 5"});
  check("a\t\n", {":1:", "the target side is empty"});
  check("a\tb\nc\xC3\xA9\t\xE2\x82\n",
        {":2:", "invalid UTF-8 at byte offset 8 (byte 4 of the line)", "truncated sequence"});
  expect_error<DataError>([] { parse_tsv("a \t   \n", Tokenization::whitespace, "ws.tsv"); },
                          {"ws.tsv:1:", "the target side is empty"});
  expect_error<Utf8Error>([] { tokenize("ab\xFF", Tokenization::whitespace); }, {"byte offset 2"});
}

TEST_CASE("an empty corpus names the file") {
  DataScratch dir;
  for (const std::string& bytes : {std::string(), std::string("\xEF\xBB\xBF")}) {
    const auto path = dir.write("empty.tsv", bytes);
    expect_error<DataError>([&] { read_tsv(path, Tokenization::whitespace); }, {path.string(), "empty corpus"});
  }
}

TEST_CASE("lines over the length limits are left out and listed with their line") {
  // Counted as each side is cut: 4 characters, or 2 words.
  CHECK(count_tokens("ab c", Tokenization::characters) == 4);
  CHECK(count_tokens("\xC3\xA9t\xC3\xA9", Tokenization::characters) == 3);
  CHECK(count_tokens("  ab  c ", Tokenization::whitespace) == 2);
  CHECK(count_tokens("", Tokenization::whitespace) == 0);
  const std::string text = "abc\tx y\nabcdef\tx\nab\tw x y z\nlast\tz\n";
  const TsvFormat format{Tokenization::characters, Tokenization::whitespace, {.source = 4, .target = 3}};
  std::vector<LongLine> long_lines;
  const auto pairs = parse_tsv(text, format, "long.tsv", &long_lines);
  REQUIRE(pairs.size() == 2);
  CHECK(pairs[0].target == Strings{"x", "y"});
  CHECK(pairs[1].line == 4);
  REQUIRE(long_lines.size() == 2);
  CHECK(long_lines[0].line == 2);
  CHECK(long_lines[0].source);
  CHECK(long_lines[0].tokens == 6);
  CHECK(long_lines[0].limit == 4);
  CHECK(long_lines[1].line == 3);
  CHECK_FALSE(long_lines[1].source);
  CHECK(long_lines[1].tokens == 4);
  CHECK(long_lines[1].limit == 3);
  // No limits (0): everything is kept.
  CHECK(parse_tsv(text, TsvFormat{}, "long.tsv").size() == 4);
}

TEST_CASE("a line of ten million characters is counted, not tokenized") {
  // As characters it would be ten million strings (over 300 MB); over the limit it costs
  // nothing beyond its bytes. The test binary's peak memory shows it (tests/cli/check_limits.sh
  // runs the CLI under a memory limit).
  const std::string text = "ab\tba\n" + std::string(10'000'000, 'a') + "\tb\n";
  std::vector<LongLine> long_lines;
  const auto pairs = parse_tsv(text, TsvFormat{.limits = {.source = 256, .target = 256}}, "huge.tsv", &long_lines);
  CHECK(pairs.size() == 1);
  REQUIRE(long_lines.size() == 1);
  CHECK(long_lines[0].line == 2);
  CHECK(long_lines[0].tokens == 10'000'000);
}
