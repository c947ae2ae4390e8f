#pragma once
// The folder a `tapegrad train` run writes (--out), and who owns it. Every run
// has an id, kept in the folder's run.json and in the metadata of every file it
// saves, with its lineage: the runs it was resumed from, oldest first, then
// itself. A run writes only into a folder that is empty of run files or holds
// its own run; it prunes only its own checkpoints; it never writes a checkpoint
// over a later one of the run it resumes. docs/cli.md ("What is kept") says
// what a user may rely on.
#include <cstddef>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "tapegrad/base/error.hpp"
#include "tapegrad/io/safetensors.hpp"

namespace tg {

/// Metadata key of the run stamp (JSON: run, lineage, step) in checkpoints and best.safetensors.
inline constexpr const char* kRunKey = "tapegrad.run";

/// Who wrote a file, and at which step.
struct RunStamp {
  std::string run;                   ///< 16 hex digits
  std::vector<std::string> lineage;  ///< the runs it descends from, then `run`
  std::size_t step = 0;
};
std::string stamp_to_json(const RunStamp& stamp);
/// The stamp in `metadata`, or nothing (a file of an earlier version, or not ours).
std::optional<RunStamp> stamp_of(const Metadata& metadata);

/// "checkpoint-0001000.safetensors".
std::string checkpoint_name(std::size_t step);

/// What a resumed run starts from.
struct ResumePoint {
  std::filesystem::path checkpoint;
  std::optional<RunStamp> stamp;  ///< nothing for a checkpoint saved before run ids
  std::size_t step = 0;
};

/// The run that writes into a folder.
struct RunClaim {
  std::string run;
  std::vector<std::string> lineage;
  bool best_removed = false;  ///< --overwrite removed a best model saved after the resume point
};

/// A folder that a run may not write into: the message names it and the files in the way.
/// The command line reports it as a usage error of --out (exit status 2).
struct RunFolderError : Error {
  using Error::Error;
};

/// Makes `out` this run's folder, or throws RunFolderError naming the files that stand in
/// the way:
///   - a fresh run needs a folder without run files (--overwrite removes them);
///   - a resumed run continues its own run in its own folder, or starts a new run
///     (descending from it) in a folder without run files; a folder of another run
///     is refused (--overwrite removes its files);
///   - in its own folder, checkpoints after the resume point are refused (resuming
///     would write over them; --overwrite removes them, and a best model saved after
///     that point), and metrics.jsonl loses its records after that point.
/// Temporaries of run files left by dead processes are removed first.
RunClaim claim_run_folder(const std::filesystem::path& out, const std::optional<ResumePoint>& resume, bool overwrite);

/// Removes all but the newest `keep` checkpoints in `out` that `run` wrote; no other file.
void prune_checkpoints(const std::filesystem::path& out, const std::string& run, std::size_t keep);

/// Removes the temporaries of run files in `out` (base/file.hpp) whose writer is no
/// longer alive; returns how many.
std::size_t remove_dead_temporaries(const std::filesystem::path& out);

}  // namespace tg
