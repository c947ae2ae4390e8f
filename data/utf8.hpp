#pragma once
/// UTF-8 text split into characters (Unicode code points), after the one
/// validator (base/utf8.hpp) has checked it.

#include <string>
#include <string_view>
#include <vector>

#include "tapegrad/base/utf8.hpp"
#include "tapegrad/data/error.hpp"

namespace tg {

/// The characters (code points) of `text`, each as its UTF-8 bytes, in order.
/// Nothing is dropped or normalised: spaces, tabs and control characters are
/// characters too. Throws Utf8Error naming the byte offset when `text` is not UTF-8.
std::vector<std::string> utf8_chars(std::string_view text);

}  // namespace tg
