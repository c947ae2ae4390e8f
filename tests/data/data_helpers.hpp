#pragma once
// Helpers of the data suite: a scratch folder for files, and a check that a
// call throws a given error whose message holds every given phrase.
#include <doctest/doctest.h>

#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <string>

namespace tg::test {

/// A folder of its own under the system's temporary folder, removed at the end.
struct DataScratch {
  std::filesystem::path path;
  DataScratch() {
    static std::atomic<unsigned> counter{0};
    path = std::filesystem::temp_directory_path() /
           ("tapegrad_data_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
    std::filesystem::remove_all(path);
    std::filesystem::create_directories(path);
  }
  ~DataScratch() {
    std::error_code ignored;
    std::filesystem::remove_all(path, ignored);
  }
  /// Writes `bytes` to a file `name` in the folder and returns its path.
  std::filesystem::path write(const std::string& name, const std::string& bytes) const {
    const auto file = path / name;
    std::ofstream out(file, std::ios::binary);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    return file;
  }
};

/// Runs `f`, which must throw an E whose message holds every phrase.
template <class E, class F>
void expect_error(F&& f, std::initializer_list<std::string> phrases) {
  std::string message;
  try {
    f();
  } catch (const E& e) {
    message = e.what();
  }
  INFO("message: ", message);
  REQUIRE_FALSE(message.empty());
  for (const std::string& phrase : phrases) {
    INFO("missing phrase: ", phrase);
    CHECK(message.find(phrase) != std::string::npos);
  }
}

}  // namespace tg::test
