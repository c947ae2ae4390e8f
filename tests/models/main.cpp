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
#include <vector>

#include "tapegrad/models/module.hpp"

namespace {

// The abstract interfaces: no instance can be gradchecked, so they are left
// out, but every class deriving from one is covered like a direct Module.
const std::set<std::string> interfaces = {"Attention", "DecodingModel", "PositionalEncoding",
                                          "RNNBase",   "RecurrentCell", "SequenceModel"};

// "class Linear : public Module", "class LSTM : public RNNBase" (final
// allowed), and so on down: the declarations to cover, found by following
// the bases from Module until no new class turns up.
std::set<std::string> modules_in_headers() {
  std::vector<std::string> headers;
  for (const auto& file : std::filesystem::directory_iterator(std::filesystem::path(TAPEGRAD_SOURCE_DIR) / "models")) {
    if (file.path().extension() != ".hpp") continue;
    std::ifstream in(file.path());
    std::stringstream text;
    text << in.rdbuf();
    headers.push_back(text.str());
  }
  std::set<std::string> bases = {"Module"}, names;
  for (std::size_t known = 0; known != bases.size();) {
    known = bases.size();
    for (const std::string& s : headers) {
      for (const std::string& base : bases) {
        const std::string pattern = ": public " + base;
        for (std::size_t at = s.find(pattern); at != std::string::npos; at = s.find(pattern, at + 1)) {
          const std::size_t end = at + pattern.size();
          if (end < s.size() && (std::isalnum(static_cast<unsigned char>(s[end])) || s[end] == '_')) continue;
          std::size_t line = s.rfind('\n', at);
          std::istringstream decl(s.substr(line == std::string::npos ? 0 : line + 1, at - line - 1));
          std::string keyword, name;
          decl >> keyword >> name;
          if (keyword == "class" || keyword == "struct") names.insert(name);
        }
      }
    }
    bases.insert(names.begin(), names.end());
  }
  std::set<std::string> out;
  for (const std::string& name : names) {
    if (interfaces.count(name) == 0) out.insert("tg::" + name);
  }
  return out;
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
