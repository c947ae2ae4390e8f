#pragma once
/// Name scopes ("encoder/lstm"): recorded on every value and tape entry, used
/// for Graphviz clusters and in error messages.

#include <cstdint>
#include <string>
#include <string_view>

namespace tg {

/// While alive, values are created inside scope `name`, nested in the
/// enclosing scope: NameScope a("encoder"); NameScope b("lstm"); gives "encoder/lstm".
class NameScope {
 public:
  explicit NameScope(std::string_view name);
  ~NameScope();
  NameScope(const NameScope&) = delete;
  NameScope& operator=(const NameScope&) = delete;

 private:
  std::uint32_t previous_scope_;
  std::uint32_t previous_instance_;
};

/// Id of the innermost scope; 0 is the root scope "".
std::uint32_t current_scope();
/// How many times the current scope had been entered on the current tape
/// before this entry (0 for the first time): tells repeats of a scope apart.
std::uint32_t current_scope_instance();
/// Full path of a scope id ("encoder/lstm"); "" for the root.
std::string scope_name(std::uint32_t id);
/// Id of a full path, interning it if new.
std::uint32_t intern_scope(std::string_view path);
/// Id of the enclosing scope ("encoder" for "encoder/lstm"); 0 for top-level scopes.
std::uint32_t parent_scope(std::uint32_t id);

}  // namespace tg
