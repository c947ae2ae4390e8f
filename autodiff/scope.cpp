#include "tapegrad/autodiff/scope.hpp"

#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "tapegrad/autodiff/state.hpp"
#include "tapegrad/autodiff/tape.hpp"

namespace tg {
namespace {

// Scope paths are interned once per NameScope entry, so nodes store a small id.
struct ScopeTable {
  std::mutex mutex;
  std::vector<std::string> paths{""};
  std::vector<std::uint32_t> parents{0};
  std::unordered_map<std::string, std::uint32_t> ids{{"", 0}};
};

ScopeTable& table() {
  static ScopeTable* t = new ScopeTable;  // leaked: usable during static destruction
  return *t;
}

}  // namespace

std::uint32_t intern_scope(std::string_view path) {
  ScopeTable& t = table();
  std::lock_guard lock(t.mutex);
  // Intern every prefix ("a", "a/b", "a/b/c") so each scope knows its parent.
  std::uint32_t id = 0;
  std::size_t search_from = 0;
  while (search_from <= path.size() && !path.empty()) {
    std::size_t slash = path.find('/', search_from);
    std::size_t end = slash == std::string_view::npos ? path.size() : slash;
    search_from = end + 1;
    std::string prefix(path.substr(0, end));
    auto it = t.ids.find(prefix);
    if (it != t.ids.end()) {
      id = it->second;
      continue;
    }
    auto new_id = static_cast<std::uint32_t>(t.paths.size());
    t.paths.push_back(prefix);
    t.parents.push_back(id);
    t.ids.emplace(std::move(prefix), new_id);
    id = new_id;
  }
  return id;
}

std::string scope_name(std::uint32_t id) {
  ScopeTable& t = table();
  std::lock_guard lock(t.mutex);
  return id < t.paths.size() ? t.paths[id] : std::string("?");
}

std::uint32_t parent_scope(std::uint32_t id) {
  ScopeTable& t = table();
  std::lock_guard lock(t.mutex);
  return id < t.parents.size() ? t.parents[id] : 0;
}

std::uint32_t current_scope() { return detail::thread_state().scope; }
std::uint32_t current_scope_instance() { return detail::thread_state().scope_instance; }

NameScope::NameScope(std::string_view name) {
  auto& state = detail::thread_state();
  previous_scope_ = state.scope;
  previous_instance_ = state.scope_instance;
  std::string path = previous_scope_ == 0 ? std::string(name) : scope_name(previous_scope_) + "/" + std::string(name);
  state.scope = intern_scope(path);
  state.scope_instance = current_tape().enter_scope(state.scope);
}

NameScope::~NameScope() {
  auto& state = detail::thread_state();
  state.scope = previous_scope_;
  state.scope_instance = previous_instance_;
}

}  // namespace tg
