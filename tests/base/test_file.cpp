#include <doctest/doctest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

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
