#pragma once
// The options of a `tapegrad train` run as its checkpoints keep them: the
// options given on its command line, as CLI11 read them (paths made absolute),
// so every option, including one added later, is saved without code of its
// own. A resumed run applies them again as if given: options that only say how
// long to run and what to write may be given anew; any other option given with
// another value is refused, since the run would no longer be the one resumed.
#include <set>
#include <string>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

namespace tg::cli {

/// The options given to `command`, as {"--lr": ["1e-3"], ...}, leaving out `skip`.
nlohmann::json given_options(const CLI::App& command, const std::set<std::string>& skip);

/// Gives `command` the options in `saved` (given_options's form) that were not given now.
/// An option given now that is not in `may_change` must have its saved value (its default
/// when it was not given then); otherwise CLI::ValidationError names both values and `source`.
void apply_saved_options(CLI::App& command, const nlohmann::json& saved, const std::set<std::string>& may_change,
                         const std::string& source);

}  // namespace tg::cli
