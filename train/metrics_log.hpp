#pragma once
// The metrics log of a run (metrics.jsonl in its folder): one JSON object per
// line, appended, so that a resumed run continues it (run_folder.hpp first
// drops the records after the resume point).
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

namespace tg {

class MetricsLog {
 public:
  /// Opens `path` for appending; throws FileError naming it.
  explicit MetricsLog(const std::filesystem::path& path);
  /// Appends `record` as one line and flushes it; throws FileError naming the file.
  void write(const nlohmann::json& record);

 private:
  std::filesystem::path path_;
  std::ofstream out_;
};

}  // namespace tg
