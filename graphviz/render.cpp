#include "tapegrad/graphviz/render.hpp"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <mutex>
#include <string_view>

#include <fmt/format.h>
#include <graphviz/cgraph.h>
#include <graphviz/gvc.h>

#include "tapegrad/base/error.hpp"
#include "tapegrad/base/file.hpp"

namespace tg {
namespace {

// ---------------------------------------------------------------------------
// Rendering with Graphviz's C library, in process.

// Graphviz keeps global state (its error function, its parser): one caller at a time.
std::mutex graphviz_mutex;
std::string* graphviz_messages = nullptr;  // set while graphviz_mutex is held

int collect_message(char* text) {
  if (graphviz_messages != nullptr) graphviz_messages->append(text);
  return 0;
}

// While alive, Graphviz's errors and warnings are collected here instead of
// going to stderr.
class CaptureMessages {
 public:
  explicit CaptureMessages(std::string& messages) : previous_(agseterrf(collect_message)) {
    graphviz_messages = &messages;
  }
  ~CaptureMessages() {
    agseterrf(previous_);
    graphviz_messages = nullptr;
  }
  CaptureMessages(const CaptureMessages&) = delete;
  CaptureMessages& operator=(const CaptureMessages&) = delete;

 private:
  agusererrf previous_;
};

// " (Graphviz: Error: ...)", or nothing if Graphviz said nothing.
std::string graphviz_said(std::string messages) {
  while (!messages.empty() && std::isspace(static_cast<unsigned char>(messages.back()))) messages.pop_back();
  return messages.empty() ? std::string() : " (Graphviz: " + messages + ")";
}

// One Graphviz context for the whole process, never freed. Graphviz 2.42's
// pango plugin caches a pointer to the last font name, which lives in the
// context: freeing a context and making a new one leaves it dangling (a
// use-after-free that AddressSanitizer sees on the second render).
GVC_t* shared_context() {
  static GVC_t* context = gvContext();
  return context;
}

std::string render_dot(const std::string& dot, const char* format) {
  std::lock_guard lock(graphviz_mutex);
  std::string messages;
  CaptureMessages capture(messages);
  GVC_t* gvc = shared_context();
  if (gvc == nullptr) throw Error(fmt::format("render_graph({}): cannot create a Graphviz context", format));
  std::unique_ptr<Agraph_t, int (*)(Agraph_t*)> graph(agmemread(dot.c_str()), agclose);
  if (!graph) {
    throw Error(fmt::format("render_graph({}): Graphviz cannot parse the DOT text{}", format, graphviz_said(messages)));
  }
  if (gvLayout(gvc, graph.get(), "dot") != 0) {
    // Graphviz finds its plugins through a config file that `dot -c` writes (Debian's libgvc6 does at install).
    bool no_plugin = messages.find("not recognized") != std::string::npos;
    throw Error(fmt::format("render_graph({}): Graphviz's 'dot' layout failed{}{}", format, graphviz_said(messages),
                            no_plugin ? "; its plugin config is probably missing: run `dot -c` as root" : ""));
  }
  auto free_layout = [&](Agraph_t* g) { gvFreeLayout(gvc, g); };
  std::unique_ptr<Agraph_t, decltype(free_layout)> layout(graph.get(), free_layout);
  char* data = nullptr;
  unsigned int length = 0;
  if (gvRenderData(gvc, graph.get(), format, &data, &length) != 0 || data == nullptr) {
    if (data != nullptr) gvFreeRenderData(data);
    throw Error(fmt::format("render_graph({}): Graphviz cannot render {}{}", format, format, graphviz_said(messages)));
  }
  std::string bytes(data, length);
  gvFreeRenderData(data);
  return bytes;
}

}  // namespace

std::string render_graph(const Tape& tape, GraphFormat format, const DotOptions& options) {
  std::string dot = to_dot(tape, options);
  switch (format) {
    case GraphFormat::dot:
      return dot;
    case GraphFormat::svg:
      return render_dot(dot, "svg");
    case GraphFormat::png:
      return render_dot(dot, "png");
  }
  throw Error("render_graph: unknown GraphFormat");
}

void write_graph(const Tape& tape, const std::string& path, const DotOptions& options) {
  std::string ext = std::filesystem::path(path).extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  GraphFormat format = GraphFormat::dot;
  if (ext == ".svg") {
    format = GraphFormat::svg;
  } else if (ext == ".png") {
    format = GraphFormat::png;
  } else if (ext != ".dot" && ext != ".gv") {
    throw Error(fmt::format(
        "write_graph: cannot tell the format of '{}' from its extension; use .dot, .gv, .svg or .png", path));
  }
  const std::string bytes = render_graph(tape, format, options);
  try {
    write_atomically(path, bytes);
  } catch (const FileError& e) {
    throw FileError(fmt::format("write_graph: {}", e.what()));
  }
}

}  // namespace tg
