#pragma once
// Checking the errors that bad input gets: their type and what their message names.
#include <doctest/doctest.h>

#include <string>

namespace tg::test {

/// The message of the E that f() throws; fails the test when f throws none.
template <class E, class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const E& e) {
    return e.what();
  }
  FAIL("no exception of the expected type");
  return "";
}

inline bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

}  // namespace tg::test
