// The CMU dictionary reader, its refusals, and the SHA-1 split on the real file.
#include <doctest/doctest.h>

#include <array>
#include <filesystem>
#include <string>
#include <unordered_set>
#include <vector>

#include "data_helpers.hpp"
#include "tapegrad/data/cmudict.hpp"
#include "tapegrad/io/safetensors.hpp"

using namespace tg;
using namespace tg::test;

using Strings = std::vector<std::string>;

TEST_CASE("variants merge into their word, in first-appearance order") {
  const std::string text =
      "# a comment line\n"
      "tomato T AH M EY T OW\n"
      "read(2) R EH D\n"
      "\n"
      "tomato(2)\tT AH M AA T OW   # British\n"
      "read R IY D\r\n"
      "caf\xC3\xA9 K AE F EY\n"
      "tomato(3) T AH M EY T OW";
  const auto entries = parse_cmudict(text, "mini.dict");
  REQUIRE(entries.size() == 3);
  CHECK(entries[0].word == "tomato");
  CHECK(entries[0].graphemes == Strings{"t", "o", "m", "a", "t", "o"});
  // The third variant repeats the first exactly and is kept once.
  CHECK(entries[0].pronunciations ==
        std::vector<Strings>{{"T", "AH", "M", "EY", "T", "OW"}, {"T", "AH", "M", "AA", "T", "OW"}});
  CHECK(entries[0].line == 2);
  CHECK(entries[1].word == "read");
  CHECK(entries[1].pronunciations == std::vector<Strings>{{"R", "EH", "D"}, {"R", "IY", "D"}});
  CHECK(entries[1].line == 3);
  CHECK(entries[2].graphemes == Strings{"c", "a", "f", "\xC3\xA9"});
}

TEST_CASE("malformed dictionary lines name the file, line and byte offset") {
  DataScratch dir;
  auto check = [&](const std::string& bytes, std::initializer_list<std::string> phrases) {
    const auto path = dir.write("bad.dict", bytes);
    std::vector<std::string> all(phrases);
    all.push_back(path.string() + ":");
    std::string message;
    try {
      read_cmudict(path);
    } catch (const DataError& e) {
      message = e.what();
    }
    INFO("message: ", message);
    REQUIRE_FALSE(message.empty());
    for (const std::string& p : all) CHECK(message.find(p) != std::string::npos);
  };
  check("a AH\nlonely\n", {":2:", "'lonely' has no phonemes", "byte offset 5"});
  check("a AH\nb # only a comment\n", {":2:", "'b' has no phonemes"});
  check("word( W ER D\n", {":1:", "malformed variant marker in 'word('"});
  check("word(x) W ER D\n", {":1:", "malformed variant marker in 'word(x)'"});
  check("(2) W ER D\n", {":1:", "malformed variant marker in '(2)'"});
  check("word(2)s W ER D\n", {":1:", "malformed variant marker"});
  check("word) W ER D\n", {":1:", "malformed variant marker"});
  check("a AH\nb\xC3 B IY\n", {":2:", "invalid UTF-8 at byte offset 6 (byte 1 of the line)"});
  const auto missing = dir.path / "missing.dict";
  expect_error<FileError>([&] { read_cmudict(missing); }, {missing.string()});
}

TEST_CASE("the split buckets are SHA-1 modulo 100") {
  // sha1("hello") = aaf4c61d...434d, a 160-bit big-endian number; Python:
  // int(hashlib.sha1(b"hello").hexdigest(), 16) % 100 == 81.
  CHECK(split_bucket("hello") == 81);
  CHECK(split_bucket("") == 5);  // int("da39a3ee...0709", 16) % 100 == 5
  CHECK(split_of("hello") == Split::train);
  CHECK(split_bucket("acero") == 94);  // the top of dev
  CHECK(split_of("acero") == Split::dev);
  CHECK(split_bucket("the") == 98);
  CHECK(split_of("the") == Split::test);
  CHECK(std::string(split_name(Split::dev)) == "dev");
  CHECK(std::string(split_name(Split::test)) == "test");
}

TEST_CASE("Debian's cmudict: its size and the split's counts") {
  const std::filesystem::path path = cmudict_default_path;
  if (!std::filesystem::exists(path)) {
    // tools/install-deps.sh installs it (pocketsphinx-en-us); CI must have it.
    FAIL("missing ", path.string(), ": run tools/install-deps.sh");
  }
  const auto entries = read_cmudict(path);
  CHECK(entries.size() == 125'945);
  std::size_t pronunciations = 0;
  std::array<std::size_t, 3> counts{};
  std::unordered_set<std::string> words;
  for (const DictEntry& e : entries) {
    pronunciations += e.pronunciations.size();
    ++counts[static_cast<std::size_t>(split_of(e.word))];
    words.insert(e.word);
  }
  CHECK(words.size() == entries.size());
  CHECK(pronunciations == 134'723);  // one per line: the file has no repeats, comments or blank lines
  CHECK(counts[0] == 113'342);
  CHECK(counts[1] == 6'205);
  CHECK(counts[2] == 6'398);
  CHECK(entries.front().word == "'bout");
  // Its longest word and longest pronunciation have 28 tokens ("antidisestablishmentarianism"):
  // any length limit of at least 28 (the CLI's is 256) keeps the whole dictionary.
  std::vector<LongLine> long_lines;
  CHECK(read_cmudict(path, {.source = 28, .target = 28}, &long_lines).size() == entries.size());
  CHECK(long_lines.empty());
  read_cmudict(path, {.source = 27, .target = 27}, &long_lines);
  CHECK_FALSE(long_lines.empty());
}

TEST_CASE("dictionary lines over the length limits are left out and listed") {
  const std::string text =
      "cat K AE T\n"
      "catamaran K AE T AH M ER AE N\n"  // 9 characters
      "cat(2) K AA AA AA T  # 5 phonemes before the comment\n"
      "dog D AO G\n";
  std::vector<LongLine> long_lines;
  const auto entries = parse_cmudict(text, "mini.dict", {.source = 8, .target = 4}, &long_lines);
  REQUIRE(entries.size() == 2);
  CHECK(entries[0].word == "cat");
  CHECK(entries[0].pronunciations == std::vector<Strings>{{"K", "AE", "T"}});
  CHECK(entries[1].word == "dog");
  REQUIRE(long_lines.size() == 2);
  CHECK(long_lines[0].line == 2);
  CHECK(long_lines[0].source);
  CHECK(long_lines[0].tokens == 9);
  CHECK(long_lines[1].line == 3);
  CHECK_FALSE(long_lines[1].source);
  CHECK(long_lines[1].tokens == 5);
  CHECK(long_lines[1].limit == 4);
  // A word of only over-long lines is no entry at all; no limits keep everything.
  CHECK(parse_cmudict(text, "mini.dict").size() == 3);
}
