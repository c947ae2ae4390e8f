#include <doctest/doctest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>

#include "tapegrad/base/file.hpp"

namespace fs = std::filesystem;

TEST_CASE("write_atomically puts the bytes in place and leaves no temporary") {
  const fs::path folder = fs::temp_directory_path() / ("tg_atomic_" + std::to_string(::getpid()));
  fs::create_directories(folder);
  tg::write_atomically(folder / "run.json", std::string_view("{\"run\":1}\n"));
  std::ifstream in(folder / "run.json");
  std::stringstream text;
  text << in.rdbuf();
  CHECK(text.str() == "{\"run\":1}\n");
  CHECK(std::distance(fs::directory_iterator(folder), fs::directory_iterator()) == 1);
  fs::remove_all(folder);
}

TEST_CASE("parse_atomic_temp reads the target and the writer's pid of a temporary's name") {
  const auto temp = tg::parse_atomic_temp("checkpoint-0000012.safetensors.4242.7.tmp");
  REQUIRE(temp.has_value());
  CHECK(temp->target == "checkpoint-0000012.safetensors");
  CHECK(temp->pid == 4242);
  for (const char* name : {"best.safetensors", "x.tmp", "a.1.tmp", "a.b.1.tmp", "a.1.b.tmp", ".1.2.tmp", "a.0.1.tmp",
                           "a.99999999999999999999.1.tmp", "a.1.2.tmpx"}) {
    CAPTURE(name);
    CHECK_FALSE(tg::parse_atomic_temp(name).has_value());
  }
}

namespace {

std::string read_all(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

std::size_t entries(const fs::path& folder) {
  return static_cast<std::size_t>(std::distance(fs::directory_iterator(folder), fs::directory_iterator()));
}

}  // namespace

TEST_CASE("AtomicFile: committed, it replaces the target whole; dropped uncommitted, it leaves the old file") {
  const fs::path folder = fs::temp_directory_path() / ("tg_atomic_file_" + std::to_string(::getpid()));
  fs::create_directories(folder);
  const fs::path target = folder / "loss.png";
  tg::write_atomically(target, std::string_view("old"));
  {
    tg::AtomicFile file(target);
    CHECK(fs::path(file.temp_path()).parent_path() == folder);
    file.write("new bytes", 9);
    // Another writer may fill the temporary by its name (PLplot does): size() sees its bytes.
    std::ofstream(file.temp_path(), std::ios::app) << "!";
    CHECK(file.size() == 10);
    CHECK(read_all(target) == "old");
    CHECK(entries(folder) == 2);
  }
  CHECK(read_all(target) == "old");  // dropped uncommitted: the temporary is gone, the old file whole
  CHECK(entries(folder) == 1);
  {
    tg::AtomicFile file(target);
    file.write("new", 3);
    file.commit();
  }
  CHECK(read_all(target) == "new");
  CHECK(entries(folder) == 1);
  fs::remove_all(folder);
}

TEST_CASE("AtomicFile names the target when its folder does not exist") {
  const fs::path target = fs::temp_directory_path() / ("tg_no_such_folder_" + std::to_string(::getpid())) / "x.json";
  CHECK_THROWS_WITH_AS(tg::AtomicFile{target}, doctest::Contains(target.c_str()), tg::FileError);
}
