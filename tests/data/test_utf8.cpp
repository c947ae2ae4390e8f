// UTF-8 splitting and validation: every kind of invalid sequence, with its offset.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "data_helpers.hpp"
#include "tapegrad/data/utf8.hpp"

using namespace tg;
using namespace tg::test;

TEST_CASE("utf8_chars splits into code points of 1 to 4 bytes") {
  const std::string text = "a \xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80\t";  // a, space, é, €, 😀, tab
  const std::vector<std::string> expected{"a", " ", "\xC3\xA9", "\xE2\x82\xAC", "\xF0\x9F\x98\x80", "\t"};
  CHECK(utf8_chars(text) == expected);
  CHECK(utf8_chars("").empty());
  CHECK(is_valid_utf8(text));
  // The extremes of each length.
  CHECK(utf8_chars(std::string("\x00", 1)).size() == 1);
  CHECK(utf8_chars("\x7F\xC2\x80\xDF\xBF\xE0\xA0\x80\xEF\xBF\xBF\xF0\x90\x80\x80\xF4\x8F\xBF\xBF").size() == 7);
  CHECK(utf8_chars("\xED\x9F\xBF\xEE\x80\x80").size() == 2);  // U+D7FF and U+E000, either side of the surrogates
}

TEST_CASE("invalid UTF-8 names the byte offset and the reason") {
  struct Bad {
    std::string text;
    std::size_t offset;
    std::string reason;
  };
  const std::vector<Bad> cases{
      {"ab\x80", 2, "continuation byte 0x80 without a lead byte"},
      {"a\xC0\xAF", 1, "overlong encoding"},
      {"\xC1\xBF", 0, "overlong encoding"},
      {"xy\xE0\x80\xAF", 2, "overlong encoding"},
      {"\xF0\x80\x80\xAF", 0, "overlong encoding"},
      {"ok\xED\xA0\x80", 2, "surrogate code point"},
      {"\xF4\x90\x80\x80", 0, "code point above U+10FFFF"},
      {"\xF5\x80\x80\x80", 0, "never appears in UTF-8"},
      {"\xFF", 0, "never appears in UTF-8"},
      {"abc\xE2\x82", 3, "truncated sequence: lead byte 0xE2 needs 3 bytes, 2 left"},
      {"\xC3"
       "a",
       0, "truncated sequence"},
      {"\xF0\x9F\x98"
       "a",
       0, "truncated sequence"},
      {"\xC3\xA9\xC3", 2, "truncated sequence"},
  };
  for (const Bad& bad : cases) {
    INFO("text offset ", bad.offset, " reason ", bad.reason);
    CHECK_FALSE(is_valid_utf8(bad.text));
    auto problem = find_invalid_utf8(bad.text);
    REQUIRE(problem.has_value());
    CHECK(problem->offset == bad.offset);
    CHECK(problem->reason.find(bad.reason) != std::string::npos);
    expect_error<Utf8Error>([&] { utf8_chars(bad.text); },
                            {"invalid UTF-8 at byte offset " + std::to_string(bad.offset), bad.reason});
    try {
      utf8_chars(bad.text);
    } catch (const Utf8Error& e) {
      CHECK(e.offset() == bad.offset);
    }
  }
}
