#pragma once
/// Files: the check every reader makes before it opens one, and the one atomic
/// writer. Writing leaves either the old file or the new one under its name,
/// never a part: the bytes go to a temporary file beside it
/// ("{target}.{pid}.{n}.tmp"), which is synced and renamed over the target,
/// then the folder is synced. A process killed mid-write (SIGKILL) leaves its
// temporary behind; parse_atomic_temp lets whoever starts in that folder next
// find it (the `tapegrad train` run folder does).
#include <cstddef>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "tapegrad/base/error.hpp"

namespace tg {

/// Throws FileError naming `path` and what it is unless it is a regular file
/// (missing, a folder, a FIFO, a device). Readers call it before opening: opening
/// a FIFO for reading blocks until something writes to it.
void check_regular_file(const std::filesystem::path& path);

/// A temporary file beside `target` that becomes `target` on commit() and is
/// removed when it is destroyed uncommitted. For writers that need a file name
/// (PLplot opens the file itself); write_atomically below is built on it.
class AtomicFile {
 public:
  /// Creates the temporary; throws FileError naming `target` when it cannot.
  explicit AtomicFile(const std::filesystem::path& target);
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  /// The temporary's path.
  const std::string& temp_path() const { return temp_; }
  /// Appends to the temporary; throws FileError naming the target.
  void write(const void* data, std::size_t count);
  /// Bytes in the temporary now, whoever wrote them.
  std::size_t size() const;
  /// Syncs the temporary, renames it over the target and syncs the folder, so
  /// that a crash leaves the old file or the new one. Throws FileError naming the target.
  void commit();

 private:
  [[noreturn]] void fail(const std::string& what, int error);
  std::string target_, temp_;
  int fd_ = -1;
  bool committed_ = false;
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
