#include <doctest/doctest.h>
#include <fcntl.h>
#include <graphviz/cgraph.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include "tapegrad.hpp"
#include "tapegrad/graphviz/render.hpp"

using namespace tg;
namespace fs = std::filesystem;

namespace {

// The DOT text as Graphviz's own parser reads it.
struct Parsed {
  explicit Parsed(const std::string& dot) : graph(agmemread(dot.c_str()), agclose) {}
  Agraph_t* get() const { return graph.get(); }
  std::unique_ptr<Agraph_t, int (*)(Agraph_t*)> graph;
};

std::string attr(void* object, const char* name) {
  const char* value = agget(object, const_cast<char*>(name));
  return value == nullptr ? std::string() : std::string(value);
}

std::vector<std::string> node_labels(Agraph_t* g) {
  std::vector<std::string> labels;
  for (Agnode_t* n = agfstnode(g); n != nullptr; n = agnxtnode(g, n)) labels.push_back(attr(n, "label"));
  return labels;
}

// Labels as written in the DOT text: "\n" separates lines.
std::size_t count_labels_containing(Agraph_t* g, const std::string& text) {
  std::size_t count = 0;
  for (const std::string& label : node_labels(g)) count += label.find(text) != std::string::npos;
  return count;
}

Agnode_t* node_labelled(Agraph_t* g, const std::string& prefix) {
  for (Agnode_t* n = agfstnode(g); n != nullptr; n = agnxtnode(g, n)) {
    if (attr(n, "label").rfind(prefix, 0) == 0) return n;
  }
  return nullptr;
}

Agraph_t* cluster_labelled(Agraph_t* g, const std::string& label) {
  for (Agraph_t* s = agfstsubg(g); s != nullptr; s = agnxtsubg(s)) {
    if (std::string(agnameof(s)).rfind("cluster", 0) == 0 && attr(s, "label") == label) return s;
  }
  return nullptr;
}

Tensor filled(Shape shape, double value) { return Tensor::full(shape, value, DType::f64); }

// h_{t+1} = tanh(h_t * w + x_t) for `steps` steps inside decoder/step, with a
// fresh constant x_t per step: 3 ops per step; leaves w, h0 and one x_t per step.
Var unrolled_decoder(const Var& w, const Var& h0, std::size_t steps) {
  NameScope decoder("decoder");
  Var h = h0;
  for (std::size_t t = 0; t < steps; ++t) {
    NameScope step("step");
    Var x(filled({2, 3}, 0.01 * static_cast<double>(t)));
    h = tanh(h * w + x);
  }
  return h;
}

struct TempDir {
  TempDir() {
    static int counter = 0;
    path = fs::temp_directory_path() /
           ("tapegrad_graphviz_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
    fs::create_directories(path);
  }
  ~TempDir() { fs::remove_all(path); }
  std::vector<std::string> files() const {
    std::vector<std::string> names;
    for (const auto& entry : fs::directory_iterator(path)) names.push_back(entry.path().filename().string());
    return names;
  }
  fs::path path;
};

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

const std::string png_signature("\x89PNG\r\n\x1a\n", 8);

}  // namespace

TEST_CASE("graphviz: one node per entry and per leaf, one edge per (value, op) pair") {
  Tape tape;
  UseTape use(tape);
  Var w = Var::parameter(filled({2, 3}, 0.5), "layer.weight");
  Var x(filled({2, 3}, 1.0), /*requires_grad=*/true);
  Var y = tanh(w * x + 2.0);  // mul, add (reading a constant 2), tanh
  Var z = y * y;              // one op reading the same value twice
  REQUIRE(tape.size() == 4);

  std::string dot = to_dot(tape);
  Parsed parsed(dot);
  REQUIRE(parsed.get() != nullptr);
  CHECK(agnnodes(parsed.get()) == 4 + 3);  // entries + leaves w, x, the constant
  // w->mul, x->mul, mul->add, 2->add, add->tanh, tanh->mul (once, though read twice)
  CHECK(agnedges(parsed.get()) == 6);

  Agnode_t* weight = node_labelled(parsed.get(), "layer.weight");
  REQUIRE(weight != nullptr);
  CHECK(attr(weight, "label") == "layer.weight\\n[2, 3] float64");
  CHECK(attr(weight, "shape") == "box");
  Agnode_t* input = node_labelled(parsed.get(), "input");
  REQUIRE(input != nullptr);
  CHECK(attr(input, "shape") == "parallelogram");
  Agnode_t* constant = node_labelled(parsed.get(), "constant 2");
  REQUIRE(constant != nullptr);
  CHECK(attr(constant, "label") == "constant 2\\n[] float64");
  CHECK(attr(constant, "shape") == "note");
  Agnode_t* tanh_node = node_labelled(parsed.get(), "tanh");
  REQUIRE(tanh_node != nullptr);
  CHECK(attr(tanh_node, "label") == "tanh\\n[2, 3] float64");
  CHECK(attr(tanh_node, "shape") == "ellipse");
  CHECK(count_labels_containing(parsed.get(), "mul\\n[2, 3] float64") == 2);
  // The result (read by no op) is drawn with a double outline.
  Agnode_t* result = nullptr;
  for (Agnode_t* n = agfstnode(parsed.get()); n != nullptr; n = agnxtnode(parsed.get(), n)) {
    if (attr(n, "peripheries") == "2") {
      CHECK(result == nullptr);
      result = n;
    }
  }
  REQUIRE(result != nullptr);
  CHECK(agcountuniqedges(parsed.get(), result, /*in=*/1, /*out=*/0) == 1);

  CHECK(to_dot(tape) == dot);  // deterministic

  DotOptions no_leaves;
  no_leaves.show_leaves = false;
  Parsed ops_only(to_dot(tape, no_leaves));
  REQUIRE(ops_only.get() != nullptr);
  CHECK(agnnodes(ops_only.get()) == 4);
  CHECK(agnedges(ops_only.get()) == 3);
}

TEST_CASE("graphviz: a leaf read by many ops is one node") {
  Tape tape;
  UseTape use(tape);
  Var w = Var::parameter(filled({3}, 0.5), "w");
  Var a = exp(w);
  Var b = w * a;
  Var c = b + w;
  Parsed parsed(to_dot(tape));
  REQUIRE(parsed.get() != nullptr);
  CHECK(agnnodes(parsed.get()) == 3 + 1);
  CHECK(agnedges(parsed.get()) == 5);  // w->exp, w->mul, exp->mul, mul->add, w->add
  CHECK(count_labels_containing(parsed.get(), "w\\n") == 1);
}

TEST_CASE("graphviz: one nested cluster per name scope, labelled with its last component") {
  Tape tape;
  UseTape use(tape);
  Var w = Var::parameter(filled({2}, 0.5), "w");
  Var h;
  {
    NameScope encoder("encoder");
    Var e = exp(w);
    {
      NameScope lstm("lstm");
      h = tanh(e * w);
    }
  }
  Var out;
  {
    NameScope decoder("decoder");
    out = h * h;
  }
  Var root_op = out + w;
  (void)root_op;

  Parsed parsed(to_dot(tape));
  REQUIRE(parsed.get() != nullptr);
  Agraph_t* encoder = cluster_labelled(parsed.get(), "encoder");
  Agraph_t* decoder = cluster_labelled(parsed.get(), "decoder");
  REQUIRE(encoder != nullptr);
  REQUIRE(decoder != nullptr);
  CHECK(cluster_labelled(parsed.get(), "lstm") == nullptr);  // not at the top level
  Agraph_t* lstm = cluster_labelled(encoder, "lstm");
  REQUIRE(lstm != nullptr);
  CHECK(attr(lstm, "tooltip") == "encoder/lstm");
  CHECK(agnnodes(lstm) == 2);     // mul, tanh
  CHECK(agnnodes(encoder) == 3);  // exp and the nested ones
  CHECK(agnnodes(decoder) == 1);
  CHECK(agnnodes(parsed.get()) == 5 + 1);
  // The parameter was made outside any scope: it is in no cluster.
  Agnode_t* param = node_labelled(parsed.get(), "w\\n");
  REQUIRE(param != nullptr);
  CHECK(agsubnode(encoder, param, 0) == nullptr);
  CHECK(agsubnode(decoder, param, 0) == nullptr);
}

TEST_CASE("graphviz: collapsing a 30-step unrolled loop draws one step with x30") {
  Tape tape;
  UseTape use(tape);
  Var w = Var::parameter(filled({2, 3}, 0.5), "decoder.w");
  Var h0(filled({2, 3}, 0.0), /*requires_grad=*/true);
  unrolled_decoder(w, h0, 30);
  REQUIRE(tape.size() == 90);

  Parsed full(to_dot(tape));
  REQUIRE(full.get() != nullptr);
  CHECK(agnnodes(full.get()) == 90 + 2 + 30);
  // Per step: h->mul (h0 in step 0), w->mul, mul->add, x_t->add, add->tanh.
  CHECK(agnedges(full.get()) == 30 * 5);

  Parsed collapsed(to_dot(tape, DotOptions{.collapse_repeated_scopes = true}));
  REQUIRE(collapsed.get() != nullptr);
  // One step's ops (mul, add, tanh) + w, h0 and the merged per-step constant.
  CHECK(agnnodes(collapsed.get()) == 3 + 3);
  CHECK(count_labels_containing(collapsed.get(), "\u00d730") == 4);  // 3 ops and the input
  CHECK(node_labelled(collapsed.get(), "tanh \u00d730\\n[2, 3] float64") != nullptr);
  CHECK(node_labelled(collapsed.get(), "input \u00d730\\n[2, 3] float64") != nullptr);
  // h0->mul, w->mul, mul->add, x->add, add->tanh, and tanh->mul: the recurrence, dashed.
  CHECK(agnedges(collapsed.get()) == 6);
  Agnode_t* tanh_node = node_labelled(collapsed.get(), "tanh");
  Agnode_t* mul_node = node_labelled(collapsed.get(), "mul");
  REQUIRE(tanh_node != nullptr);
  REQUIRE(mul_node != nullptr);
  Agedge_t* recurrence = agedge(collapsed.get(), tanh_node, mul_node, nullptr, 0);
  REQUIRE(recurrence != nullptr);
  CHECK(attr(recurrence, "style") == "dashed");
  Agraph_t* decoder = cluster_labelled(collapsed.get(), "decoder");
  REQUIRE(decoder != nullptr);
  CHECK(cluster_labelled(decoder, "step \u00d730") != nullptr);
}

TEST_CASE("graphviz: this test's edge count, spelled out") {
  // The edge count above, derived once more on a 2-step loop to keep it honest.
  Tape tape;
  UseTape use(tape);
  Var w = Var::parameter(filled({2, 3}, 0.5), "w");
  Var h0(filled({2, 3}, 0.0), true);
  unrolled_decoder(w, h0, 2);
  Parsed parsed(to_dot(tape));
  REQUIRE(parsed.get() != nullptr);
  // h0->mul0 w->mul0 mul0->add0 x0->add0 add0->tanh0 tanh0->mul1 w->mul1 mul1->add1 x1->add1 add1->tanh1
  CHECK(agnedges(parsed.get()) == 10);
}

TEST_CASE("graphviz: a scope repeated inside a repeated scope collapses by its own count") {
  Tape tape;
  UseTape use(tape);
  Var w = Var::parameter(filled({4}, 0.5), "w");
  Var h(filled({4}, 0.1), true);
  for (int t = 0; t < 30; ++t) {
    NameScope decoder("decoder");
    NameScope step("step");
    h = h * w;
    for (int layer = 0; layer < 2; ++layer) {
      NameScope l("layer");
      h = tanh(h + w);
    }
  }
  REQUIRE(tape.size() == 30 * 5);
  Parsed collapsed(to_dot(tape, DotOptions{.collapse_repeated_scopes = true}));
  REQUIRE(collapsed.get() != nullptr);
  CHECK(agnnodes(collapsed.get()) == 3 + 2);  // mul; add, tanh of the layer; w; h
  CHECK(node_labelled(collapsed.get(), "mul \u00d730") != nullptr);
  CHECK(node_labelled(collapsed.get(), "add \u00d760") != nullptr);
  CHECK(node_labelled(collapsed.get(), "tanh \u00d760") != nullptr);
  Agraph_t* decoder = cluster_labelled(collapsed.get(), "decoder");  // no ops of its own to count
  REQUIRE(decoder != nullptr);
  Agraph_t* step = cluster_labelled(decoder, "step \u00d730");
  REQUIRE(step != nullptr);
  CHECK(cluster_labelled(step, "layer \u00d760") != nullptr);
}

TEST_CASE("graphviz: repeats of different lengths merge where op and position agree") {
  Tape tape;
  UseTape use(tape);
  Var w = Var::parameter(filled({4}, 0.5), "w");
  Var h(filled({4}, 0.1), true);
  for (int t = 0; t < 10; ++t) {
    NameScope step("step");
    if (t == 0) h = exp(h);  // the first step has one op more: its positions shift
    h = tanh(h * w);
  }
  REQUIRE(tape.size() == 21);
  Parsed collapsed(to_dot(tape, DotOptions{.collapse_repeated_scopes = true}));
  REQUIRE(collapsed.get() != nullptr);
  // Step 0: exp, mul, tanh at positions 0..2; steps 1..9: mul, tanh at 0..1 (mul at 0 is new).
  CHECK(agnnodes(collapsed.get()) == 3 + 2 + 2);
  CHECK(node_labelled(collapsed.get(), "mul \u00d79") != nullptr);
  CHECK(node_labelled(collapsed.get(), "tanh \u00d79") != nullptr);
  CHECK(node_labelled(collapsed.get(), "mul\\n") != nullptr);  // step 0's, alone
  CHECK(node_labelled(collapsed.get(), "exp\\n") != nullptr);
}

TEST_CASE("graphviz: a 500-step unrolled graph exports, parses and renders") {
  Tape tape;
  UseTape use(tape);
  Var w = Var::parameter(filled({2, 3}, 0.5), "decoder.w");
  Var h0(filled({2, 3}, 0.0), true);
  unrolled_decoder(w, h0, 500);
  REQUIRE(tape.size() == 1500);

  Parsed full(to_dot(tape));
  REQUIRE(full.get() != nullptr);
  CHECK(agnnodes(full.get()) == 1500 + 2 + 500);
  CHECK(agnedges(full.get()) == 500 * 5);

  DotOptions collapse{.collapse_repeated_scopes = true};
  Parsed collapsed(to_dot(tape, collapse));
  REQUIRE(collapsed.get() != nullptr);
  CHECK(agnnodes(collapsed.get()) == 6);
  CHECK(node_labelled(collapsed.get(), "add \u00d7500") != nullptr);
  std::string svg = render_graph(tape, GraphFormat::svg, collapse);
  CHECK(svg.find("<svg") != std::string::npos);
  CHECK(svg.find("add \u00d7500") != std::string::npos);
}

TEST_CASE("graphviz: names with quotes, backslashes, brackets, pipes, newlines and UTF-8 stay valid") {
  Tape tape;
  UseTape use(tape);
  const std::string nasty = "he said \"hi\" <b> \\ {x|y} \u00fcn\u00ef\u20ac";
  Var w = Var::parameter(filled({2}, 0.5), nasty);
  Var v = Var::parameter(filled({2}, 0.5), "line one\nline two\\n &amp; \\N tab\there \xff\xfe end\\");
  Var y;
  {
    NameScope scope("enc\"o<d>er\\ {|}");
    y = w * v;
  }
  DotOptions options;
  options.graph_name = "g \"1\" \\";
  std::string dot = to_dot(tape, options);
  Parsed parsed(dot);
  REQUIRE(parsed.get() != nullptr);
  CHECK(agnnodes(parsed.get()) == 3);
  CHECK(std::string(agnameof(parsed.get())) == "g \"1\" \\\\");  // the name as written, DOT escapes kept
  // Invalid UTF-8 became U+FFFD, each control character a space.
  CHECK(dot.find("\xef\xbf\xbd\xef\xbf\xbd end") != std::string::npos);
  CHECK(dot.find("tab here") != std::string::npos);
  REQUIRE(cluster_labelled(parsed.get(), "enc\"o<d>er\\\\ {|}") != nullptr);  // DOT unescapes only \"

  std::string svg = render_graph(tape, GraphFormat::svg, options);
  CHECK(svg.find("<svg") != std::string::npos);
  // Graphviz shows the name verbatim (XML-escaped in the SVG).
  CHECK(svg.find("he said &quot;hi&quot; &lt;b&gt; \\ {x|y} \u00fcn\u00ef\u20ac") != std::string::npos);
  CHECK(svg.find("&lt;d&gt;er\\ {|}") != std::string::npos);
  CHECK(svg.find(">line one<") != std::string::npos);  // the newline breaks the label's line
  CHECK(svg.find(">line two\\n &amp;amp; \\N tab here") != std::string::npos);
  std::string png = render_graph(tape, GraphFormat::png, options);
  CHECK(png.compare(0, 8, png_signature) == 0);
}

TEST_CASE("graphviz: SVG and PNG are rendered in process") {
  Tape tape;
  UseTape use(tape);
  Var w = Var::parameter(filled({2}, 0.5), "w");
  Var y = exp(w) * w;
  (void)y;
  std::string svg = render_graph(tape, GraphFormat::svg);
  CHECK((svg.rfind("<?xml", 0) == 0 || svg.find("<svg") != std::string::npos));
  CHECK(svg.find("</svg>") != std::string::npos);
  std::string png = render_graph(tape, GraphFormat::png);
  REQUIRE(png.size() > 8);
  CHECK(png.compare(0, 8, png_signature) == 0);
  CHECK(render_graph(tape, GraphFormat::dot) == to_dot(tape));
}

TEST_CASE("graphviz: an empty tape is a valid empty graph") {
  Tape tape;
  std::string dot = to_dot(tape);
  Parsed parsed(dot);
  REQUIRE(parsed.get() != nullptr);
  CHECK(agnnodes(parsed.get()) == 0);
  CHECK(agnedges(parsed.get()) == 0);
  CHECK(render_graph(tape, GraphFormat::svg).find("<svg") != std::string::npos);
}

TEST_CASE("graphviz: write_graph picks the format by extension and replaces the file whole") {
  Tape tape;
  UseTape use(tape);
  Var w = Var::parameter(filled({2}, 0.5), "w");
  Var y = tanh(w);
  (void)y;
  TempDir dir;
  write_graph(tape, (dir.path / "g.dot").string());
  write_graph(tape, (dir.path / "g.gv").string());
  write_graph(tape, (dir.path / "g.svg").string());
  write_graph(tape, (dir.path / "g.PNG").string());
  CHECK(read_file(dir.path / "g.dot") == to_dot(tape));
  CHECK(read_file(dir.path / "g.gv") == to_dot(tape));
  CHECK(read_file(dir.path / "g.svg").find("<svg") != std::string::npos);
  CHECK(read_file(dir.path / "g.PNG").compare(0, 8, png_signature) == 0);

  // Overwriting replaces the old bytes; no temporary file stays behind.
  { std::ofstream(dir.path / "g.svg") << std::string(100000, 'x'); }
  write_graph(tape, (dir.path / "g.svg").string());
  std::string svg = read_file(dir.path / "g.svg");
  CHECK(svg.find('x' + std::string(10, 'x')) == std::string::npos);
  CHECK(svg.find("</svg>") != std::string::npos);
  std::vector<std::string> files = dir.files();
  std::sort(files.begin(), files.end());
  CHECK(files == std::vector<std::string>{"g.PNG", "g.dot", "g.gv", "g.svg"});
}

TEST_CASE("graphviz: write_graph errors name the path") {
  Tape tape;
  UseTape use(tape);
  Var w = Var::parameter(filled({2}, 0.5), "w");
  Var y = tanh(w);
  (void)y;
  TempDir dir;
  std::string jpg = (dir.path / "graph.jpg").string();
  CHECK_THROWS_WITH_AS(write_graph(tape, jpg), doctest::Contains(jpg.c_str()), Error);
  CHECK_THROWS_WITH_AS(write_graph(tape, jpg), doctest::Contains(".svg"), Error);
  std::string none = (dir.path / "graph").string();
  CHECK_THROWS_WITH_AS(write_graph(tape, none), doctest::Contains(none.c_str()), Error);
  std::string missing_dir = (dir.path / "no_such_dir" / "graph.svg").string();
  CHECK_THROWS_WITH_AS(write_graph(tape, missing_dir), doctest::Contains(missing_dir.c_str()), Error);
  // A path whose directory is a regular file.
  { std::ofstream(dir.path / "file") << "x"; }
  std::string under_file = (dir.path / "file" / "graph.dot").string();
  CHECK_THROWS_WITH_AS(write_graph(tape, under_file), doctest::Contains(under_file.c_str()), Error);
  // A directory where the file should be: the rename fails, the temporary file is removed.
  fs::create_directory(dir.path / "taken.svg");
  std::string taken = (dir.path / "taken.svg").string();
  CHECK_THROWS_WITH_AS(write_graph(tape, taken), doctest::Contains(taken.c_str()), Error);
  std::vector<std::string> files = dir.files();
  std::sort(files.begin(), files.end());
  CHECK(files == std::vector<std::string>{"file", "taken.svg"});
}

// Run only as the child of the next test, with GVBINDIR naming a folder without
// Graphviz's plugin config: no layout or render plugin can be found.
TEST_CASE("graphviz child: without plugins, rendering throws" * doctest::skip()) {
  const char* done = std::getenv("TAPEGRAD_GRAPHVIZ_DONE");
  REQUIRE(done != nullptr);
  Tape tape;
  UseTape use(tape);
  Var w = Var::parameter(filled({2}, 0.5), "w");
  Var y = tanh(w);
  (void)y;
  CHECK_THROWS_WITH_AS(render_graph(tape, GraphFormat::svg), doctest::Contains("render_graph(svg)"), Error);
  CHECK_THROWS_WITH_AS(render_graph(tape, GraphFormat::png), doctest::Contains("render_graph(png)"), Error);
  CHECK_THROWS_WITH_AS(render_graph(tape, GraphFormat::png), doctest::Contains("dot -c"), Error);
  CHECK(render_graph(tape, GraphFormat::dot) == to_dot(tape));  // DOT text needs no plugin
  std::ofstream(done) << "ok";
}

TEST_CASE("graphviz: without Graphviz's plugins, rendering is an Error naming the format, not a crash") {
  // Graphviz reads GVBINDIR once per process: run the check above in a child.
  TempDir dir;
  fs::create_directory(dir.path / "plugins");
  const fs::path done = dir.path / "done", log = dir.path / "log";
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    if (std::string(*e).rfind("GVBINDIR=", 0) != 0) env.emplace_back(*e);
  }
  env.push_back("GVBINDIR=" + (dir.path / "plugins").string());
  env.push_back("TAPEGRAD_GRAPHVIZ_DONE=" + done.string());
  std::vector<std::string> args{"/proc/self/exe", "--no-skip", "-tc=graphviz child: *"};
  auto pointers = [](std::vector<std::string>& strings) {
    std::vector<char*> p;
    for (std::string& x : strings) p.push_back(x.data());
    p.push_back(nullptr);
    return p;
  };
  std::vector<char*> argv = pointers(args), envp = pointers(env);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  pid_t pid = 0;
  int spawned = posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  REQUIRE(spawned == 0);
  int status = 0;
  REQUIRE(waitpid(pid, &status, 0) == pid);
  INFO("child output:\n", read_file(log));
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  CHECK(read_file(done) == "ok");
}

// The picture in docs/graphviz.md: a 3-step RNN-like encoder and decoder of
// elementwise ops. TAPEGRAD_WRITE_DOC_IMAGES=1 rewrites docs/img from it.
TEST_CASE("graphviz: the documentation's example graph") {
  Tape tape;
  UseTape use(tape);
  auto param = [](const char* name, std::uint64_t seed) {
    return Var::parameter(Tensor::normal({8}, 0, 0.5, seed), name);
  };
  Var w_enc = param("encoder.w_x", 1), u_enc = param("encoder.w_h", 2);
  Var w_dec = param("decoder.w_h", 3), b_dec = param("decoder.bias", 4), w_out = param("decoder.w_out", 5);
  Var h(Tensor::zeros({4, 8}));  // [batch, hidden]
  {
    NameScope encoder("encoder");
    for (std::uint64_t t = 0; t < 3; ++t) {
      NameScope step("step");
      Var x(Tensor::normal({4, 8}, 0, 1, 10 + t));  // [batch, features]: this step's input
      h = tanh(x * w_enc + h * u_enc);
    }
  }
  std::vector<Var> losses;
  {
    NameScope decoder("decoder");
    Var s = h;
    for (std::uint64_t t = 0; t < 3; ++t) {
      NameScope step("step");
      s = tanh(s * w_dec + b_dec);
      Indices targets = {1, 3, 5, static_cast<std::int64_t>(t)};
      losses.push_back(cross_entropy(s * w_out, targets));
    }
  }
  Var loss = losses[0] + losses[1] + losses[2];
  REQUIRE(tape.size() == 3 * 4 + 3 * 5 + 2);

  DotOptions collapse{.collapse_repeated_scopes = true};
  Parsed full(to_dot(tape));
  Parsed collapsed(to_dot(tape, collapse));
  REQUIRE(full.get() != nullptr);
  REQUIRE(collapsed.get() != nullptr);
  CHECK(agnnodes(full.get()) == 29 + 5 + 1 + 3);  // ops, parameters, h0, x_t
  CHECK(agnnodes(collapsed.get()) == 4 + 5 + 2 + 5 + 1 + 1);
  loss.backward();  // the export does not disturb the graph
  CHECK(w_enc.grad().defined());

  if (const char* write = std::getenv("TAPEGRAD_WRITE_DOC_IMAGES"); write != nullptr && std::string(write) == "1") {
    fs::path img = fs::path(TAPEGRAD_SOURCE_DIR) / "docs" / "img";
    fs::create_directories(img);
    write_graph(tape, (img / "graph_example.svg").string());
    write_graph(tape, (img / "graph_example_collapsed.svg").string(), collapse);
  }
}
