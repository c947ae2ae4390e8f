#pragma once
// A model saved by `tapegrad train`: its parameters, configuration, vocabularies
// and task, everything eval, predict and graph need to rebuild it.
//
// Metadata keys: "tapegrad.model" (the ModelOptions as JSON, model_config.hpp), "tapegrad.source_vocab" and
// "tapegrad.target_vocab" (Vocab::to_json), "tapegrad.task" (the task options as JSON),
// "tapegrad.training" (the run's position and options; training checkpoints only).
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "tapegrad/data/vocab.hpp"
#include "tapegrad/io/safetensors.hpp"
#include "tapegrad/models/sequence_model.hpp"
#include "tapegrad/ops/quantized_weights.hpp"
#include "tapegrad/train/evaluate.hpp"
#include "tapegrad/train/model_config.hpp"
#include "tapegrad/train/task.hpp"

namespace tg {

inline constexpr const char* kModelKey = "tapegrad.model";
inline constexpr const char* kSourceVocabKey = "tapegrad.source_vocab";
inline constexpr const char* kTargetVocabKey = "tapegrad.target_vocab";
inline constexpr const char* kTaskKey = "tapegrad.task";
inline constexpr const char* kTrainingKey = "tapegrad.training";
/// Set by `tapegrad prune`: {"sparsity": ..., "scope": "global" or "per_layer"}. A run that
/// starts from such a model (--init) keeps its pruned weights at zero.
inline constexpr const char* kPruningKey = "tapegrad.pruning";

struct SavedModel {
  ModelOptions options;
  std::unique_ptr<SequenceModel> model;  ///< of options' architecture
  Vocab source_vocab, target_vocab;
  TaskOptions task;
  Metadata metadata;
  /// The int8 copies of a quantized checkpoint's weights (io/quantized_checkpoint.hpp), which
  /// decoding uses while this lives; null for a float checkpoint.
  std::unique_ptr<QuantizedWeights> int8;
};

/// The metadata that describes a model (configuration, vocabularies, task).
Metadata model_metadata(const ModelOptions& options, const Vocab& source_vocab, const Vocab& target_vocab,
                        const TaskOptions& task);

/// kPruningKey's value.
std::string pruning_metadata(double sparsity, bool global);

/// Reads the task options back from metadata; throws Error naming the file.
TaskOptions task_from_metadata(const Metadata& metadata, const std::string& source);

/// Rebuilds the model from `path`'s metadata and loads its parameters (a training
/// checkpoint's optimizer state is ignored), with the int8 copies of a quantized
/// checkpoint. Throws naming the file and what is missing.
SavedModel load_saved_model(const std::filesystem::path& path);

/// The model at `first` and those at `others`, of any architecture, for an ensemble: every one
/// must have the first's vocabularies (Error naming the file that differs).
std::vector<SavedModel> load_ensemble(const std::string& first, const std::vector<std::string>& others);
/// What `tapegrad eval` and `predict` decode with: the model at `first`, its `--ensemble` and its
/// `--rescore` models (loaded as load_ensemble does), and their decoding groups: `first` and
/// the ensemble decode together (they must write in one direction: Error naming the file that
/// differs), each rescoring model is a group of its own.
struct DecodingModels {
  std::vector<SavedModel> models;
  std::vector<DecodingGroup> groups;  ///< pointing into models
};
DecodingModels load_for_decoding(const std::string& first, const std::vector<std::string>& ensemble,
                                 const std::vector<std::string>& rescore);

}  // namespace tg
