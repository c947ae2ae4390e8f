#include "atomic_file.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <limits>

#include <fmt/format.h>

namespace tg {
namespace {

std::string errno_text(int error) { return std::strerror(error); }

}  // namespace

void write_atomically(const std::filesystem::path& path, const std::function<void(const ByteSink&)>& produce) {
  static std::atomic<unsigned> counter{0};
  const std::string target = path.string();
  std::filesystem::path folder = path.parent_path();
  if (folder.empty()) folder = ".";
  std::string temp;
  int fd = -1;
  for (int attempt = 0; fd < 0 && attempt < 100; ++attempt) {
    temp = fmt::format("{}.{}.{}.tmp", target, ::getpid(), counter++);
    fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd < 0 && errno != EEXIST) break;
  }
  if (fd < 0) throw FileError(fmt::format("cannot write '{}': {}", target, errno_text(errno)));
  auto fail = [&](const std::string& what, int error) {
    if (fd >= 0) ::close(fd);
    ::unlink(temp.c_str());
    throw FileError(fmt::format("cannot write '{}': {}{}", target, what, error != 0 ? ": " + errno_text(error) : ""));
  };
  try {
    produce([&](const void* data, std::size_t n) {
      const auto* p = static_cast<const char*>(data);
      for (std::size_t done = 0; done < n;) {
        ssize_t wrote = ::write(fd, p + done, n - done);
        if (wrote < 0 && errno == EINTR) continue;
        if (wrote < 0) fail("write failed", errno);
        done += static_cast<std::size_t>(wrote);
      }
    });
  } catch (const FileError&) {
    throw;
  } catch (...) {
    // Refused by the producer (an undefined tensor, say): nothing stays behind.
    ::close(fd);
    ::unlink(temp.c_str());
    throw;
  }
  // On disk before the rename, so a crash leaves the old file or the new one.
  if (::fsync(fd) != 0) fail("fsync failed", errno);
  int closed = ::close(fd);
  fd = -1;
  if (closed != 0) fail("close failed", errno);
  if (::rename(temp.c_str(), target.c_str()) != 0) fail("rename failed", errno);
  // The rename itself is durable once the folder's entry is synced.
  int dir = ::open(folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir < 0) throw FileError(fmt::format("cannot sync the folder of '{}': {}", target, errno_text(errno)));
  int synced = ::fsync(dir);
  int error = errno;
  ::close(dir);
  if (synced != 0) throw FileError(fmt::format("cannot sync the folder of '{}': {}", target, errno_text(error)));
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
