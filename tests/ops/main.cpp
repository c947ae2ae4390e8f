// The ops suite's main: after the tests, checks that every op recorded in
// ops/*.cpp has been exercised by a passing gradcheck and has been passed an
// undefined Var by a test, so that adding an op without either fails the suite.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <cctype>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "check.hpp"
#include "tapegrad/autodiff/gradcheck.hpp"

namespace {

// Every op records itself with record("name", ...): the source is the list of
// ops. A call whose first argument is not a string literal is reported, since
// the check could not see its op. A plain scan rather than std::regex, whose
// GCC 12 implementation trips -Wmaybe-uninitialized under the sanitizer build.
struct OpsInSources {
  std::set<std::string> names;
  std::vector<std::string> unreadable;  // "file:offset" of calls without a literal name
};

OpsInSources ops_in_sources() {
  OpsInSources found;
  const std::string call = "record(";
  for (const auto& file : std::filesystem::directory_iterator(std::filesystem::path(TAPEGRAD_SOURCE_DIR) / "ops")) {
    if (file.path().extension() != ".cpp") continue;
    std::ifstream in(file.path());
    std::stringstream text;
    text << in.rdbuf();
    const std::string s = text.str();
    for (std::size_t at = s.find(call); at != std::string::npos; at = s.find(call, at + 1)) {
      // Only calls of record itself, not of a function whose name ends in "record".
      if (at > 0 && (std::isalnum(static_cast<unsigned char>(s[at - 1])) || s[at - 1] == '_')) continue;
      std::size_t begin = s.find_first_not_of(" \t\r\n", at + call.size());
      std::size_t end = begin == std::string::npos || s[begin] != '"' ? std::string::npos : s.find('"', begin + 1);
      if (end == std::string::npos || end == begin + 1) {
        found.unreadable.push_back(file.path().filename().string() + ":" + std::to_string(at));
        continue;
      }
      found.names.insert(s.substr(begin + 1, end - begin - 1));
    }
  }
  return found;
}

}  // namespace

int main(int argc, char** argv) {
  doctest::Context context(argc, argv);
  int failed = context.run();
  if (context.shouldExit()) return failed;
  // With a filter only some gradchecks ran; the coverage check needs them all.
  bool filtered = false;
  for (int i = 1; i < argc; ++i) filtered = filtered || std::string(argv[i]).rfind("-", 0) == 0;
  if (filtered) {
    std::printf("op gradcheck coverage: not checked (test filters given)\n");
    return failed;
  }
  OpsInSources sources = ops_in_sources();
  for (const std::string& where : sources.unreadable) {
    std::printf("record() at %s does not name its op with a string literal: the coverage check cannot see it\n",
                where.c_str());
  }
  const std::set<std::string>& all = sources.names;
  const std::set<std::string>& checked = tg::gradchecked_ops();
  int missing = 0;
  for (const std::string& op : all) {
    if (checked.count(op) == 0) {
      std::printf("op '%s' is recorded in ops/ but no passing gradcheck exercised it\n", op.c_str());
      ++missing;
    }
  }
  std::printf("op gradcheck coverage: %zu ops in ops/, %d without a gradcheck\n", all.size(), missing);
  const std::set<std::string>& undefined_checked = tg::test::ops_checked_for_undefined();
  int unchecked = 0;
  for (const std::string& op : all) {
    if (undefined_checked.count(op) == 0) {
      std::printf("op '%s' is recorded in ops/ but no test passed it an undefined Var (test_undefined.cpp)\n",
                  op.c_str());
      ++unchecked;
    }
  }
  std::printf("undefined-Var coverage: %zu ops in ops/, %d without a test\n", all.size(), unchecked);
  if (all.empty()) {
    std::printf("no ops found under %s/ops: the coverage check is broken\n", TAPEGRAD_SOURCE_DIR);
    return 1;
  }
  return failed != 0 ? failed : (missing != 0 || unchecked != 0 || !sources.unreadable.empty() ? 1 : 0);
}
