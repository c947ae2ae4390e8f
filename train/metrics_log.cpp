#include "tapegrad/train/metrics_log.hpp"

#include <fmt/format.h>

#include "tapegrad/base/file.hpp"

namespace tg {

MetricsLog::MetricsLog(const std::filesystem::path& path) : path_(path), out_(path, std::ios::app) {
  if (!out_) throw FileError(fmt::format("cannot open the metrics log '{}' for appending", path.string()));
}

void MetricsLog::write(const nlohmann::json& record) {
  out_ << record.dump() << '\n';
  out_.flush();
  if (!out_) throw FileError(fmt::format("cannot write to the metrics log '{}'", path_.string()));
}

}  // namespace tg
