#include "tapegrad/train/run_folder.hpp"

#include <signal.h>

#include <algorithm>
#include <cerrno>
#include <fstream>
#include <random>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "tapegrad/base/file.hpp"
#include "tapegrad/io/training_checkpoint.hpp"

namespace tg {
namespace {

namespace fs = std::filesystem;

const char* const kMarker = "run.json";
const char* const kBest = "best.safetensors";
const char* const kMetrics = "metrics.jsonl";

std::optional<std::size_t> checkpoint_step(const std::string& name) {
  const std::string head = "checkpoint-", tail = ".safetensors";
  if (name.size() != head.size() + 7 + tail.size()) return {};
  if (name.compare(0, head.size(), head) != 0 || name.compare(head.size() + 7, tail.size(), tail) != 0) return {};
  std::size_t step = 0;
  for (std::size_t i = head.size(); i < head.size() + 7; ++i) {
    if (name[i] < '0' || name[i] > '9') return {};
    step = 10 * step + std::size_t(name[i] - '0');
  }
  return step;
}

// The files a run writes into its folder.
bool is_run_file(const std::string& name) {
  return checkpoint_step(name) || name == kMarker || name == kBest || name == kMetrics || name == "loss.png" ||
         name == "attention.png";
}

std::string new_run_id() {
  std::random_device device;
  return fmt::format("{:08x}{:08x}", device(), device());
}

struct Marker {
  std::string run;
  std::vector<std::string> lineage;
};

// The folder's run.json; nothing when it is absent or unreadable (then its files are of no known run).
std::optional<Marker> read_marker(const fs::path& out) {
  std::ifstream in(out / kMarker);
  if (!in) return {};
  try {
    nlohmann::json j = nlohmann::json::parse(in);
    Marker m;
    j.at("run").get_to(m.run);
    j.at("lineage").get_to(m.lineage);
    return m;
  } catch (const nlohmann::json::exception&) {
    return {};
  }
}

void write_marker(const fs::path& out, const RunClaim& claim) {
  const nlohmann::json j = {{"run", claim.run}, {"lineage", claim.lineage}};
  write_atomically(out / kMarker, j.dump() + "\n");
}

std::vector<std::string> run_files(const fs::path& out) {
  std::vector<std::string> names;
  for (const fs::directory_entry& e : fs::directory_iterator(out)) {
    if (is_run_file(e.path().filename().string())) names.push_back(e.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

std::string listed(const std::vector<std::string>& names) {
  const std::size_t shown = std::min<std::size_t>(names.size(), 4);
  std::string text = fmt::format("{}", fmt::join(names.begin(), names.begin() + std::ptrdiff_t(shown), ", "));
  if (names.size() > shown) text += fmt::format(" and {} more", names.size() - shown);
  return text;
}

std::optional<RunStamp> stamp_of_file(const fs::path& path) {
  try {
    return stamp_of(read_checkpoint_metadata(path));
  } catch (const Error&) {
    return {};  // unreadable: of no known run
  }
}

// Removes `names` from `out`, never the file being resumed.
void remove_files(const fs::path& out, const std::vector<std::string>& names,
                  const std::optional<ResumePoint>& resume) {
  for (const std::string& name : names) {
    std::error_code ec;
    if (resume && fs::equivalent(out / name, resume->checkpoint, ec)) continue;
    fs::remove(out / name);
  }
}

// Keeps metrics.jsonl's records of steps up to `step`: those after it are written again.
void truncate_metrics(const fs::path& out, std::size_t step) {
  const fs::path path = out / kMetrics;
  std::ifstream in(path);
  if (!in) return;
  std::string kept, line;
  while (std::getline(in, line)) {
    try {
      const nlohmann::json record = nlohmann::json::parse(line);
      if (record.contains("step") && record.at("step").get<std::size_t>() <= step) kept += line + "\n";
    } catch (const nlohmann::json::exception&) {
      // A line cut short by a kill: dropped.
    }
  }
  in.close();
  write_atomically(path, kept);
}

[[noreturn]] void refuse(const std::string& what) { throw RunFolderError(what); }

}  // namespace

std::string stamp_to_json(const RunStamp& s) {
  return nlohmann::json{{"run", s.run}, {"lineage", s.lineage}, {"step", s.step}}.dump();
}

std::optional<RunStamp> stamp_of(const Metadata& metadata) {
  auto it = metadata.find(kRunKey);
  if (it == metadata.end()) return {};
  try {
    nlohmann::json j = nlohmann::json::parse(it->second);
    RunStamp s;
    j.at("run").get_to(s.run);
    j.at("lineage").get_to(s.lineage);
    j.at("step").get_to(s.step);
    return s;
  } catch (const nlohmann::json::exception&) {
    return {};
  }
}

std::string checkpoint_name(std::size_t step) { return fmt::format("checkpoint-{:07}.safetensors", step); }

std::size_t remove_dead_temporaries(const fs::path& out) {
  std::size_t removed = 0;
  for (const fs::directory_entry& e : fs::directory_iterator(out)) {
    const std::optional<AtomicTemp> temp = parse_atomic_temp(e.path().filename().string());
    if (!temp || !is_run_file(temp->target)) continue;
    // kill(pid, 0) fails with ESRCH only when no such process exists.
    if (::kill(static_cast<pid_t>(temp->pid), 0) == 0 || errno != ESRCH) continue;
    std::error_code ec;
    if (fs::remove(e.path(), ec)) ++removed;
  }
  return removed;
}

RunClaim claim_run_folder(const fs::path& out, const std::optional<ResumePoint>& resume, bool overwrite) {
  fs::create_directories(out);
  if (const std::size_t n = remove_dead_temporaries(out)) {
    fmt::print("removed {} temporary file(s) that a killed run left in {}\n", n, out.string());
  }
  const std::vector<std::string> present = run_files(out);
  const std::optional<Marker> marker = read_marker(out);
  const std::optional<RunStamp> from = resume ? resume->stamp : std::nullopt;
  RunClaim claim;
  const bool own = from && marker && marker->run == from->run;
  if (own) {
    // Resuming the folder's own run: it goes on, unless a later checkpoint stands in the way.
    claim.run = marker->run;
    claim.lineage = marker->lineage;
    std::vector<std::string> later;
    for (const std::string& name : present) {
      if (checkpoint_step(name).value_or(0) > resume->step) later.push_back(name);
    }
    if (!later.empty()) {
      if (!overwrite) {
        refuse(
            fmt::format("{} holds {}, saved after step {} (the checkpoint resumed): resuming would write over "
                        "them; resume from {}, give another --out, or discard them with --overwrite",
                        out.string(), listed(later), resume->step, (out / later.back()).string()));
      }
      remove_files(out, later, resume);
      const std::optional<RunStamp> best = fs::exists(out / kBest) ? stamp_of_file(out / kBest) : std::nullopt;
      if (fs::exists(out / kBest) && (!best || best->step > resume->step)) {
        fs::remove(out / kBest);
        claim.best_removed = true;
      }
    }
    truncate_metrics(out, resume->step);
    return claim;
  }
  if (!present.empty()) {
    if (!overwrite) {
      refuse(fmt::format(
          "{} holds the files of {} ({}): give another --out, continue that run with --resume and "
          "one of its checkpoints, or replace its files with --overwrite",
          out.string(), marker ? fmt::format("run {}", marker->run) : std::string("another run"), listed(present)));
    }
    remove_files(out, present, resume);
  }
  claim.run = new_run_id();
  if (from) claim.lineage = from->lineage;
  claim.lineage.push_back(claim.run);
  write_marker(out, claim);
  return claim;
}

void prune_checkpoints(const fs::path& out, const std::string& run, std::size_t keep) {
  std::vector<std::pair<std::size_t, fs::path>> own;
  for (const fs::directory_entry& e : fs::directory_iterator(out)) {
    const std::optional<std::size_t> step = checkpoint_step(e.path().filename().string());
    if (!step) continue;
    const std::optional<RunStamp> stamp = stamp_of_file(e.path());
    if (stamp && stamp->run == run) own.emplace_back(*step, e.path());
  }
  std::sort(own.begin(), own.end());
  for (std::size_t i = 0; i + keep < own.size(); ++i) fs::remove(own[i].second);
}

}  // namespace tg
