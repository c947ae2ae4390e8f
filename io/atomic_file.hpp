#pragma once
// Writing a file so that a crash or an error leaves either the old file or the
// new one under its name, never a part: the bytes go to a temporary file beside
// it ("{target}.{pid}.{n}.tmp"), which is synced and renamed over the target,
// then the folder is synced. A process killed mid-write (SIGKILL) leaves its
// temporary behind; parse_atomic_temp lets whoever starts in that folder next
// find it (the `tapegrad train` run folder does).
#include <cstddef>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "../autodiff/error.hpp"

namespace tg {

/// The file system refused (cannot open, read, write, sync or rename); names the file.
struct FileError : Error {
  using Error::Error;
};

using ByteSink = std::function<void(const void* data, std::size_t count)>;

/// Calls `produce` with a sink that appends to the temporary file, then puts the
/// file in place. On an error the temporary is removed, a file already at `path`
/// is untouched, and FileError names `path` (an exception from `produce` passes through).
void write_atomically(const std::filesystem::path& path, const std::function<void(const ByteSink&)>& produce);
void write_atomically(const std::filesystem::path& path, std::string_view bytes);

/// What a temporary's file name says: the file it was to become (a name in the
/// same folder) and the id of the process that wrote it.
struct AtomicTemp {
  std::string target;
  long pid = 0;
};
/// The parts of a temporary's file name, or nothing when `name` is not one.
std::optional<AtomicTemp> parse_atomic_temp(const std::string& name);

}  // namespace tg
