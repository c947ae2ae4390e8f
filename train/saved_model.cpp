#include "tapegrad/train/saved_model.hpp"

#include <utility>
#include <variant>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "tapegrad/io/quantized_checkpoint.hpp"
#include "tapegrad/io/training_checkpoint.hpp"
#include "tapegrad/train/check_configuration.hpp"

namespace tg {

Metadata model_metadata(const ModelOptions& options, const Vocab& source_vocab, const Vocab& target_vocab,
                        const TaskOptions& task) {
  nlohmann::ordered_json t = {{"task", task.task},
                              {"dictionary", task.dictionary},
                              {"train", task.train_file},
                              {"dev", task.dev_file},
                              {"test", task.test_file},
                              {"source_tokens", task.source_tokens},
                              {"target_tokens", task.target_tokens},
                              {"min_count", task.min_count},
                              {"reverse_target", task.reverse_target},
                              {"max_source_length", task.max_source_length},
                              {"max_target_length", task.max_target_length},
                              {"long_lines", task.long_lines}};
  return {{kModelKey, options_to_json(options)},
          {kSourceVocabKey, source_vocab.to_json()},
          {kTargetVocabKey, target_vocab.to_json()},
          {kTaskKey, t.dump()}};
}

namespace {

const std::string& required(const Metadata& metadata, const char* key, const std::string& source) {
  auto it = metadata.find(key);
  if (it == metadata.end()) {
    throw Error(fmt::format("{}: no '{}' in the metadata: not a model saved by tapegrad train", source, key));
  }
  return it->second;
}

}  // namespace

TaskOptions task_from_metadata(const Metadata& metadata, const std::string& source) {
  TaskOptions task;
  nlohmann::json t;
  try {
    t = nlohmann::json::parse(required(metadata, kTaskKey, source));
  } catch (const nlohmann::json::exception& e) {
    throw Error(fmt::format("{}: the metadata's '{}' is not JSON: {}", source, kTaskKey, e.what()));
  }
  const std::string what = fmt::format("{}: the metadata's '{}'", source, kTaskKey);
  read_json_field(t, "task", task.task, what);
  read_json_field(t, "dictionary", task.dictionary, what);
  read_json_field(t, "train", task.train_file, what);
  read_json_field(t, "dev", task.dev_file, what);
  read_json_field(t, "test", task.test_file, what);
  read_json_field(t, "source_tokens", task.source_tokens, what);
  read_json_field(t, "target_tokens", task.target_tokens, what);
  read_json_field(t, "min_count", task.min_count, what);
  // Absent from models saved before they existed: the defaults.
  if (t.contains("reverse_target")) read_json_field(t, "reverse_target", task.reverse_target, what);
  if (t.contains("max_source_length")) read_json_field(t, "max_source_length", task.max_source_length, what);
  if (t.contains("max_target_length")) read_json_field(t, "max_target_length", task.max_target_length, what);
  if (t.contains("long_lines")) read_json_field(t, "long_lines", task.long_lines, what);
  if (task.max_source_length == 0 || task.max_target_length == 0 ||
      (task.long_lines != "skip" && task.long_lines != "refuse")) {
    throw Error(
        fmt::format("{} has max_source_length {}, max_target_length {} (both must be positive) and "
                    "long_lines '{}' (skip or refuse)",
                    what, task.max_source_length, task.max_target_length, task.long_lines));
  }
  return task;
}

std::string pruning_metadata(double sparsity, bool global) {
  return nlohmann::json{{"sparsity", sparsity}, {"scope", global ? "global" : "per_layer"}}.dump();
}

SavedModel load_saved_model(const std::filesystem::path& path) {
  const std::string source = path.string();
  SavedModel saved;
  const SafetensorsHeader header = read_safetensors_header(path);
  saved.metadata = header.metadata;
  saved.options = options_from_json(required(saved.metadata, kModelKey, source), source);
  try {
    saved.source_vocab = Vocab::from_json(required(saved.metadata, kSourceVocabKey, source));
    saved.target_vocab = Vocab::from_json(required(saved.metadata, kTargetVocabKey, source));
  } catch (const DataError& e) {
    throw Error(fmt::format("{}: {}", source, e.what()));
  }
  const auto [source_size, target_size] = std::visit(
      [](const auto& o) {
        return std::pair{o.source_vocab_size, o.target_vocab_size};
      },
      saved.options);
  if (saved.source_vocab.size() != source_size || saved.target_vocab.size() != target_size) {
    throw Error(fmt::format("{}: the vocabularies ({} and {} tokens) do not match the model ({} and {})", source,
                            saved.source_vocab.size(), saved.target_vocab.size(), source_size, target_size));
  }
  saved.task = task_from_metadata(saved.metadata, source);
  check_configuration(saved.options, header, source);
  saved.model = make_model(saved.options, default_generator());
  LoadResult result = load_checkpoint(*saved.model, path, {.strict = false});
  if (!result.missing_keys.empty()) {
    throw CheckpointError(fmt::format("{}: missing parameters {}", source, fmt::join(result.missing_keys, ", ")));
  }
  saved.model->eval();
  saved.int8 = load_int8_weights(*saved.model, path);
  return saved;
}

std::vector<SavedModel> load_ensemble(const std::string& first, const std::vector<std::string>& others) {
  std::vector<SavedModel> models;
  models.push_back(load_saved_model(first));
  for (const std::string& path : others) {
    SavedModel m = load_saved_model(path);
    if (!(m.source_vocab == models[0].source_vocab) || !(m.target_vocab == models[0].target_vocab)) {
      throw Error(
          fmt::format("{}: its vocabularies ({} and {} tokens) differ from those of {} ({} and {}); an "
                      "ensemble needs models trained on the same vocabularies",
                      path, m.source_vocab.size(), m.target_vocab.size(), first, models[0].source_vocab.size(),
                      models[0].target_vocab.size()));
    }
    models.push_back(std::move(m));
  }
  return models;
}

DecodingModels load_for_decoding(const std::string& first, const std::vector<std::string>& ensemble,
                                 const std::vector<std::string>& rescore) {
  std::vector<std::string> others = ensemble;
  others.insert(others.end(), rescore.begin(), rescore.end());
  DecodingModels out{load_ensemble(first, others), {}};
  std::vector<std::string> paths = {first};
  paths.insert(paths.end(), others.begin(), others.end());
  const std::vector<SavedModel>& models = out.models;
  const std::size_t ensemble_size = 1 + ensemble.size();
  std::vector<DecodingGroup>& groups = out.groups;
  groups.resize(1);
  groups[0].reversed_target = models.at(0).task.reverse_target;
  for (std::size_t m = 0; m < models.size(); ++m) {
    const bool reversed = models[m].task.reverse_target;
    if (m < ensemble_size) {
      if (reversed != groups[0].reversed_target) {
        throw Error(
            fmt::format("{} writes targets {} but {} writes them {}: an ensemble decodes in one direction "
                        "(give the other with --rescore)",
                        paths.at(m), reversed ? "right to left" : "left to right", paths.at(0),
                        groups[0].reversed_target ? "right to left" : "left to right"));
      }
      groups[0].models.push_back(models[m].model.get());
    } else {
      groups.push_back({{models[m].model.get()}, reversed});
    }
  }
  return out;
}

}  // namespace tg
