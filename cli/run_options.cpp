#include "tapegrad/cli/run_options.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace tg::cli {

nlohmann::json given_options(const CLI::App& command, const std::set<std::string>& skip) {
  nlohmann::json out = nlohmann::json::object();
  for (const CLI::Option* o : command.get_options()) {
    if (o->count() == 0 || skip.count(o->get_name()) != 0) continue;
    out[o->get_name()] = o->results();
  }
  return out;
}

void apply_saved_options(CLI::App& command, const nlohmann::json& saved, const std::set<std::string>& may_change,
                         const std::string& source) {
  for (CLI::Option* o : command.get_options()) {
    const std::string name = o->get_name();
    const bool was_given = saved.contains(name);
    if (o->count() > 0) {
      if (may_change.count(name) != 0) continue;
      const std::vector<std::string> now = o->results();
      if (was_given && saved.at(name).get<std::vector<std::string>>() == now) continue;
      if (!was_given && now == std::vector<std::string>{o->get_default_str()}) continue;
      throw CLI::ValidationError(
          name,
          fmt::format(
              "given {}, but {} was trained with {}; a resumed run keeps the options that shape it (it may change "
              "only {})",
              fmt::join(now, " "), source,
              was_given ? fmt::format("{} {}", name, fmt::join(saved.at(name).get<std::vector<std::string>>(), " "))
                        : fmt::format("{} at its default{}", name,
                                      o->get_default_str().empty() ? "" : " " + o->get_default_str()),
              fmt::join(may_change, ", ")));
    }
    if (!was_given) continue;
    o->clear();
    for (const std::string& value : saved.at(name).get<std::vector<std::string>>()) o->add_result(value);
    o->run_callback();
  }
}

}  // namespace tg::cli
