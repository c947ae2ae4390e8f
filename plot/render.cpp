#include "tapegrad/plot/render.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include <fmt/format.h>
#include <plplot.h>

#include "tapegrad/base/file.hpp"

namespace tg::plot_detail {
namespace {

// PLplot's state (the current stream, its handlers, its driver table) is
// global: one plot at a time. Everything below runs with this held.
std::mutex plplot_mutex;
std::string* plplot_messages = nullptr;

// Thrown by the exit handler out of the PLplot call that failed. PLplot is C,
// built with unwind tables (as everything on x86-64 and arm64 Debian is), so
// the exception passes through its frames; the stream it leaves is ended and
// dropped without drawing anything more.
struct PLplotExit {
  std::string message;
};

// plexit() calls this and then exit(): throwing is the only way to survive it.
int throw_on_exit(const char* message) { throw PLplotExit{message != nullptr ? message : ""}; }

// plabort() calls this and returns; the PLplot call that failed returns early.
// The message fails the plot after the stream is ended.
void collect_abort(const char* message) {
  if (plplot_messages == nullptr || message == nullptr) return;
  if (!plplot_messages->empty()) *plplot_messages += "; ";
  *plplot_messages += message;
}

class Handlers {
 public:
  explicit Handlers(std::string& messages) {
    plplot_messages = &messages;
    plsexit(throw_on_exit);
    plsabort(collect_abort);
  }
  ~Handlers() {
    plsexit(nullptr);
    plsabort(nullptr);
    plplot_messages = nullptr;
  }
  Handlers(const Handlers&) = delete;
  Handlers& operator=(const Handlers&) = delete;
};

std::string trimmed(std::string text) {
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.pop_back();
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front()))) text.erase(0, 1);
  return text;
}

// The device for `path`'s extension.
const char* device_for(const std::filesystem::path& path, const char* caller) {
  std::string ext = path.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  if (ext == ".png") return "pngcairo";
  if (ext == ".svg") return "svgcairo";
  throw PlotError(
      fmt::format("{}: cannot tell the format of '{}' from its extension; use .png or .svg", caller, path.string()));
}

// Asking PLplot for a device it lacks makes it prompt on stdin: check first.
void require_device(const char* device, const std::filesystem::path& path, const char* caller) {
  std::array<const char*, 128> menus{};
  std::array<const char*, 128> names{};
  int count = static_cast<int>(names.size());
  const char** menu_list = menus.data();
  const char** name_list = names.data();
  plgDevs(&menu_list, &name_list, &count);
  for (int i = 0; i < count; ++i) {
    if (names[static_cast<std::size_t>(i)] != nullptr && std::strcmp(names[static_cast<std::size_t>(i)], device) == 0)
      return;
  }
  throw PlotError(fmt::format("{}: cannot plot '{}': PLplot has no '{}' device (install plplot-driver-cairo)", caller,
                              path.string(), device));
}

// Ends the stream made for one plot and makes the previous one current again.
class Stream {
 public:
  Stream() {
    plgstrm(&previous_);
    plmkstrm(&stream_);
  }
  ~Stream() {
    if (stream_ >= 0) end();
  }
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;

  bool ok() const { return stream_ >= 0; }

  // Writes the page (the cairo drivers write their file here) and frees the stream.
  void end() {
    if (stream_ < 0) return;
    stream_ = -1;
    try {
      plend1();
    } catch (const PLplotExit&) {  // a stream already broken may fail again while ending
    }
    plsstrm(previous_);
  }

 private:
  PLINT previous_ = 0;
  PLINT stream_ = -1;
};

}  // namespace

void render(const std::filesystem::path& path, const char* caller, PlotSize size, int columns, int rows,
            const std::function<void()>& draw) {
  const char* device = device_for(path, caller);
  std::lock_guard lock(plplot_mutex);
  std::string messages;
  Handlers handlers(messages);
  try {
    require_device(device, path, caller);
    std::optional<AtomicFile> temp;
    try {
      temp.emplace(path);
    } catch (const FileError& e) {
      throw PlotError(fmt::format("{}: {}", caller, e.what()));
    }
    {
      // With these set, plabort writes its message here instead of to stderr
      // (the handler has it already). They outlive the stream.
      PLINT error_code = 0;
      std::array<char, 4096> error_text{};
      Stream stream;
      if (!stream.ok()) throw PLplotExit{"no free stream"};
      plsError(&error_code, error_text.data());
      plsdev(device);
      plsfnam(temp->temp_path().c_str());
      plspage(0, 0, size.width, size.height, 0, 0);
      plscolbg(255, 255, 255);
      plssub(columns, rows);
      plinit();
      draw();
      stream.end();
    }
    if (!messages.empty()) throw PLplotExit{};
    if (temp->size() == 0) {
      throw PlotError(fmt::format("{}: cannot write '{}': PLplot wrote nothing", caller, path.string()));
    }
    try {
      temp->commit();
    } catch (const FileError& e) {
      throw PlotError(fmt::format("{}: {}", caller, e.what()));
    }
  } catch (const PLplotExit& e) {
    std::string said = trimmed(e.message.empty() ? messages : e.message + (messages.empty() ? "" : "; " + messages));
    throw PlotError(fmt::format("{}: cannot plot '{}': PLplot: {}", caller, path.string(),
                                said.empty() ? std::string("unknown error") : said));
  }
}

}  // namespace tg::plot_detail
