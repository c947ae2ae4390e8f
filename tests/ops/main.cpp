// The ops suite's main: after the tests, checks that every op recorded in
// ops/*.cpp has been exercised by a passing gradcheck, so that adding an op
// without a gradcheck fails the suite.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>

#include "autodiff/gradcheck.hpp"

namespace {

// Every op records itself with record("name", ...): the source is the list of ops.
// A plain scan rather than std::regex, whose GCC 12 implementation trips
// -Wmaybe-uninitialized under the sanitizer build.
std::set<std::string> ops_in_sources() {
  std::set<std::string> names;
  const std::string call = "record(\"";
  for (const auto& file : std::filesystem::directory_iterator(std::filesystem::path(TAPEGRAD_SOURCE_DIR) / "ops")) {
    if (file.path().extension() != ".cpp") continue;
    std::ifstream in(file.path());
    std::stringstream text;
    text << in.rdbuf();
    const std::string s = text.str();
    for (std::size_t at = s.find(call); at != std::string::npos; at = s.find(call, at + 1)) {
      std::size_t begin = at + call.size();
      std::size_t end = s.find('"', begin);
      if (end != std::string::npos && end > begin) names.insert(s.substr(begin, end - begin));
    }
  }
  return names;
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
  std::set<std::string> all = ops_in_sources();
  const std::set<std::string>& checked = tg::gradchecked_ops();
  int missing = 0;
  for (const std::string& op : all) {
    if (checked.count(op) == 0) {
      std::printf("op '%s' is recorded in ops/ but no passing gradcheck exercised it\n", op.c_str());
      ++missing;
    }
  }
  std::printf("op gradcheck coverage: %zu ops in ops/, %d without a gradcheck\n", all.size(), missing);
  if (all.empty()) {
    std::printf("no ops found under %s/ops: the coverage check is broken\n", TAPEGRAD_SOURCE_DIR);
    return 1;
  }
  return failed != 0 ? failed : (missing != 0 ? 1 : 0);
}
