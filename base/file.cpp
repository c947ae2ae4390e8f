#include "tapegrad/base/file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <limits>

#include <fmt/format.h>

namespace tg {
void check_regular_file(const std::filesystem::path& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::file_status status = fs::status(path, ec);
  if (ec || !fs::exists(status)) {
    throw FileError(fmt::format("cannot open '{}' for reading: {}", path.string(),
                                ec && ec != std::errc::no_such_file_or_directory ? ec.message() : "no such file"));
  }
  if (fs::is_regular_file(status)) return;
  const char* kind = fs::is_directory(status)        ? "a folder"
                     : fs::is_fifo(status)           ? "a FIFO (named pipe)"
                     : fs::is_character_file(status) ? "a character device"
                     : fs::is_block_file(status)     ? "a block device"
                     : fs::is_socket(status)         ? "a socket"
                                                     : "something else";
  throw FileError(fmt::format("cannot read '{}': it is {}, not a regular file", path.string(), kind));
}

AtomicFile::AtomicFile(const std::filesystem::path& target) : target_(target.string()) {
  static std::atomic<unsigned> counter{0};
  for (int attempt = 0; fd_ < 0 && attempt < 100; ++attempt) {
    temp_ = fmt::format("{}.{}.{}.tmp", target_, ::getpid(), counter++);
    fd_ = ::open(temp_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd_ < 0 && errno != EEXIST) break;
  }
  if (fd_ < 0) throw FileError(fmt::format("cannot write '{}': {}", target_, errno_text(errno)));
}

AtomicFile::~AtomicFile() {
  if (fd_ >= 0) ::close(fd_);
  if (!committed_) ::unlink(temp_.c_str());
}

void AtomicFile::fail(const std::string& what, int error) {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  ::unlink(temp_.c_str());
  committed_ = true;  // nothing left to remove
  throw FileError(fmt::format("cannot write '{}': {}{}", target_, what, error != 0 ? ": " + errno_text(error) : ""));
}

void AtomicFile::write(const void* data, std::size_t count) {
  const auto* p = static_cast<const char*>(data);
  for (std::size_t done = 0; done < count;) {
    ssize_t wrote = ::write(fd_, p + done, count - done);
    if (wrote < 0 && errno == EINTR) continue;
    if (wrote < 0) fail("write failed", errno);
    done += static_cast<std::size_t>(wrote);
  }
}

std::size_t AtomicFile::size() const {
  struct stat info {};
  return ::fstat(fd_, &info) == 0 ? static_cast<std::size_t>(info.st_size) : 0;
}

void AtomicFile::commit() {
  // On disk before the rename, so a crash leaves the old file or the new one.
  if (::fsync(fd_) != 0) fail("fsync failed", errno);
  int closed = ::close(fd_);
  fd_ = -1;
  if (closed != 0) fail("close failed", errno);
  if (::rename(temp_.c_str(), target_.c_str()) != 0) fail("rename failed", errno);
  committed_ = true;
  // The rename itself is durable once the folder's entry is synced.
  std::filesystem::path folder = std::filesystem::path(target_).parent_path();
  if (folder.empty()) folder = ".";
  int dir = ::open(folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir < 0) throw FileError(fmt::format("cannot sync the folder of '{}': {}", target_, errno_text(errno)));
  int synced = ::fsync(dir);
  int error = errno;
  ::close(dir);
  if (synced != 0) throw FileError(fmt::format("cannot sync the folder of '{}': {}", target_, errno_text(error)));
}

void write_atomically(const std::filesystem::path& path, const std::function<void(const ByteSink&)>& produce) {
  AtomicFile file(path);
  // A refusal by the producer (an undefined tensor, say) passes through, and
  // the temporary is removed with `file`.
  produce([&](const void* data, std::size_t n) { file.write(data, n); });
  file.commit();
}

void write_atomically(const std::filesystem::path& path, std::string_view bytes) {
  write_atomically(path, [&](const ByteSink& sink) { sink(bytes.data(), bytes.size()); });
}

std::optional<AtomicTemp> parse_atomic_temp(const std::string& name) {
  // "{target}.{pid}.{n}.tmp", read from the end: the target may hold dots.
  const std::string tail = ".tmp";
  if (name.size() <= tail.size() || name.compare(name.size() - tail.size(), tail.size(), tail) != 0) return {};
  const std::string rest = name.substr(0, name.size() - tail.size());
  const std::size_t n_dot = rest.rfind('.');
  if (n_dot == std::string::npos || n_dot == 0) return {};
  const std::size_t pid_dot = rest.rfind('.', n_dot - 1);
  if (pid_dot == std::string::npos || pid_dot == 0) return {};
  auto digits = [](std::string_view s) {
    return !s.empty() && s.find_first_not_of("0123456789") == std::string_view::npos;
  };
  const std::string_view pid_text(rest.data() + pid_dot + 1, n_dot - pid_dot - 1);
  if (!digits(pid_text) || !digits(std::string_view(rest).substr(n_dot + 1))) return {};
  AtomicTemp out;
  out.target = rest.substr(0, pid_dot);
  auto [end, ec] = std::from_chars(pid_text.data(), pid_text.data() + pid_text.size(), out.pid);
  if (ec != std::errc() || out.pid <= 0 || out.pid > std::numeric_limits<int>::max()) return {};  // not a pid
  return out;
}

}  // namespace tg
