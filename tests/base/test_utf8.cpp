// The one UTF-8 validator (base/utf8.hpp): the length of each character, and why not.
#include <doctest/doctest.h>

#include <string>
#include <string_view>

#include "tapegrad/base/utf8.hpp"

TEST_CASE("utf8_char_length gives 1 to 4 bytes for a valid character, 0 and the reason otherwise") {
  const std::string_view text = "a\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80";  // a, e acute, euro, an emoji
  CHECK(tg::utf8_char_length(text, 0) == 1);
  CHECK(tg::utf8_char_length(text, 1) == 2);
  CHECK(tg::utf8_char_length(text, 3) == 3);
  CHECK(tg::utf8_char_length(text, 6) == 4);
  struct Bad {
    std::string_view bytes;
    const char* reason;
  };
  for (const Bad& bad : {Bad{"\x80", "continuation byte"}, Bad{"\xC0\xAF", "overlong"}, Bad{"\xE0\x80\xAF", "overlong"},
                         Bad{"\xED\xA0\x80", "surrogate"}, Bad{"\xF4\x90\x80\x80", "above U+10FFFF"},
                         Bad{"\xE2\x82", "truncated"}, Bad{"\xFF", "never appears"}}) {
    CAPTURE(bad.reason);
    std::string reason;
    CHECK(tg::utf8_char_length(bad.bytes, 0, &reason) == 0);
    CHECK(reason.find(bad.reason) != std::string::npos);
    CHECK(tg::find_invalid_utf8(bad.bytes).has_value());
  }
  CHECK_FALSE(tg::find_invalid_utf8(text).has_value());
  CHECK(tg::utf8_length(text) == 4);
}
