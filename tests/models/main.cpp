// The models suite's main: after the tests, checks that every module class
// declared in models/*.hpp has been covered by a passing module gradcheck, so
// that adding a module without one fails the suite.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <cctype>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>

#include "tapegrad/models/module.hpp"

namespace {

// "class LSTM : public Module" (final allowed) and "class AdditiveAttention :
// public Attention": the declarations to cover. Attention itself is an
// abstract interface (no instance can be gradchecked), so it is left out.
std::set<std::string> modules_in_headers() {
  std::set<std::string> names;
  for (const auto& file : std::filesystem::directory_iterator(std::filesystem::path(TAPEGRAD_SOURCE_DIR) / "models")) {
    if (file.path().extension() != ".hpp") continue;
    std::ifstream in(file.path());
    std::stringstream text;
    text << in.rdbuf();
    const std::string s = text.str();
    for (const std::string base : {": public Module", ": public Attention"}) {
      for (std::size_t at = s.find(base); at != std::string::npos; at = s.find(base, at + 1)) {
        std::size_t line = s.rfind('\n', at);
        std::istringstream decl(s.substr(line == std::string::npos ? 0 : line + 1, at - line - 1));
        std::string keyword, name;
        decl >> keyword >> name;
        if (keyword == "class" || keyword == "struct") names.insert("tg::" + name);
      }
    }
  }
  names.erase("tg::Attention");
  return names;
}

}  // namespace

int main(int argc, char** argv) {
  doctest::Context context(argc, argv);
  int failed = context.run();
  if (context.shouldExit()) return failed;
  bool filtered = false;
  for (int i = 1; i < argc; ++i) filtered = filtered || std::string(argv[i]).rfind("-", 0) == 0;
  if (filtered) {
    std::printf("module gradcheck coverage: not checked (test filters given)\n");
    return failed;
  }
  std::set<std::string> declared = modules_in_headers();
  const std::set<std::string>& checked = tg::gradchecked_modules();
  int missing = 0;
  for (const std::string& m : declared) {
    if (checked.count(m) == 0) {
      std::printf("module '%s' is declared in models/ but no passing gradcheck covered it\n", m.c_str());
      ++missing;
    }
  }
  std::printf("module gradcheck coverage: %zu modules in models/, %d without a gradcheck\n", declared.size(), missing);
  if (declared.empty()) {
    std::printf("no modules found under %s/models: the coverage check is broken\n", TAPEGRAD_SOURCE_DIR);
    return 1;
  }
  return failed != 0 ? failed : (missing != 0 ? 1 : 0);
}
