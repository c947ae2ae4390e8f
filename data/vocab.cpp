#include "tapegrad/data/vocab.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <utility>

#include "tapegrad/data/utf8.hpp"

namespace tg {

namespace {

constexpr const char* json_format = "tapegrad.vocab";
constexpr int json_version = 1;

[[noreturn]] void malformed(const std::string& what) { throw DataError(fmt::format("vocabulary JSON: {}", what)); }

// Empty tokens mean nothing, and JSON can only hold UTF-8.
void check_token(const std::string& token, const std::string& where) {
  if (token.empty()) throw DataError(fmt::format("{}: empty token", where));
  if (auto problem = find_invalid_utf8(token)) {
    throw DataError(
        fmt::format("{}: token is not UTF-8 (byte offset {}: {})", where, problem->offset, problem->reason));
  }
}

}  // namespace

const std::vector<std::string>& Vocab::special_tokens() {
  static const std::vector<std::string> specials{"<pad>", "<s>", "</s>", "<unk>"};
  return specials;
}

Vocab::Vocab() : Vocab(special_tokens(), 0) {}

Vocab::Vocab(std::vector<std::string> tokens, int) : tokens_(std::move(tokens)) {
  const auto& specials = special_tokens();
  if (tokens_.size() < num_specials || !std::equal(specials.begin(), specials.end(), tokens_.begin())) {
    throw DataError(fmt::format("a vocabulary's first tokens must be the specials {}, {}, {}, {}", specials[0],
                                specials[1], specials[2], specials[3]));
  }
  ids_.reserve(tokens_.size());
  for (std::size_t i = 0; i < tokens_.size(); ++i) {
    check_token(tokens_[i], fmt::format("vocabulary token {}", i));
    auto [it, added] = ids_.emplace(tokens_[i], static_cast<std::int64_t>(i));
    if (!added) throw DataError(fmt::format("vocabulary token {} '{}' repeats token {}", i, tokens_[i], it->second));
  }
}

Vocab Vocab::from_tokens(std::vector<std::string> tokens) { return Vocab(std::move(tokens), 0); }

Vocab Vocab::build(const std::vector<std::vector<std::string>>& sequences, std::size_t min_count) {
  const Vocab specials;
  std::unordered_map<std::string, std::size_t> counts;
  for (std::size_t s = 0; s < sequences.size(); ++s) {
    for (std::size_t t = 0; t < sequences[s].size(); ++t) {
      const std::string& token = sequences[s][t];
      check_token(token, fmt::format("building a vocabulary: sequence {} position {}", s, t));
      if (!specials.contains(token)) ++counts[token];
    }
  }
  std::vector<std::pair<std::string, std::size_t>> kept;
  for (auto& [token, count] : counts) {
    if (count >= std::max<std::size_t>(min_count, 1)) kept.emplace_back(token, count);
  }
  std::sort(kept.begin(), kept.end(), [](const auto& a, const auto& b) {
    return a.second != b.second ? a.second > b.second : a.first < b.first;
  });
  std::vector<std::string> tokens = special_tokens();
  tokens.reserve(tokens.size() + kept.size());
  for (auto& [token, count] : kept) tokens.push_back(std::move(token));
  return Vocab(std::move(tokens), 0);
}

std::int64_t Vocab::id(std::string_view token) const {
  auto it = ids_.find(std::string(token));
  return it == ids_.end() ? unk_id : it->second;
}

bool Vocab::contains(std::string_view token) const { return ids_.count(std::string(token)) != 0; }

const std::string& Vocab::token(std::int64_t id) const {
  if (id < 0 || static_cast<std::size_t>(id) >= tokens_.size()) {
    throw IndexError(fmt::format("token id {} is outside the vocabulary [0, {})", id, tokens_.size()));
  }
  return tokens_[static_cast<std::size_t>(id)];
}

std::vector<std::int64_t> Vocab::encode(const std::vector<std::string>& tokens) const {
  std::vector<std::int64_t> ids;
  ids.reserve(tokens.size());
  for (const std::string& t : tokens) ids.push_back(id(t));
  return ids;
}

std::vector<std::string> Vocab::decode(std::span<const std::int64_t> ids) const {
  std::vector<std::string> out;
  for (std::int64_t i : ids) {
    const std::string& t = token(i);  // checks the range first, eos included
    if (i == eos_id) break;
    if (i == pad_id || i == bos_id) continue;
    out.push_back(t);
  }
  return out;
}

std::string Vocab::to_json() const {
  nlohmann::json j = nlohmann::json::object();
  j["format"] = json_format;
  j["version"] = json_version;
  j["tokens"] = tokens_;
  return j.dump();
}

Vocab Vocab::from_json(const std::string& json) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(json);
  } catch (const nlohmann::json::parse_error& e) {
    malformed(fmt::format("not JSON at byte offset {}: {}", e.byte, e.what()));
  }
  if (!j.is_object()) malformed(fmt::format("expected an object, got {}", j.type_name()));
  auto format = j.find("format");
  if (format == j.end() || !format->is_string() || format->get<std::string>() != json_format) {
    malformed(fmt::format("\"format\" must be \"{}\"", json_format));
  }
  auto version = j.find("version");
  if (version == j.end() || !version->is_number_integer() || version->get<std::int64_t>() != json_version) {
    malformed(fmt::format("\"version\" must be {} (got {})", json_version,
                          version == j.end() ? std::string("nothing") : version->dump()));
  }
  auto tokens = j.find("tokens");
  if (tokens == j.end() || !tokens->is_array()) malformed("\"tokens\" must be an array of strings");
  std::vector<std::string> list;
  list.reserve(tokens->size());
  for (std::size_t i = 0; i < tokens->size(); ++i) {
    const auto& t = (*tokens)[i];
    if (!t.is_string()) malformed(fmt::format("\"tokens\"[{}] is a {}, not a string", i, t.type_name()));
    list.push_back(t.get<std::string>());
  }
  try {
    return Vocab(std::move(list), 0);
  } catch (const DataError& e) {
    malformed(e.what());
  }
}

}  // namespace tg
