#include "saved_model.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "io/training_checkpoint.hpp"
#include "model_config.hpp"

namespace tg::cli {

Metadata model_metadata(const Seq2SeqOptions& options, const Vocab& source_vocab, const Vocab& target_vocab,
                        const TaskOptions& task) {
  nlohmann::ordered_json t = {{"task", task.task},
                              {"dictionary", task.dictionary},
                              {"train", task.train_file},
                              {"dev", task.dev_file},
                              {"test", task.test_file},
                              {"source_tokens", task.source_tokens},
                              {"target_tokens", task.target_tokens},
                              {"min_count", task.min_count},
                              {"reverse_target", task.reverse_target}};
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
  try {
    nlohmann::json t = nlohmann::json::parse(required(metadata, kTaskKey, source));
    t.at("task").get_to(task.task);
    t.at("dictionary").get_to(task.dictionary);
    t.at("train").get_to(task.train_file);
    t.at("dev").get_to(task.dev_file);
    t.at("test").get_to(task.test_file);
    t.at("source_tokens").get_to(task.source_tokens);
    t.at("target_tokens").get_to(task.target_tokens);
    t.at("min_count").get_to(task.min_count);
    task.reverse_target = t.value("reverse_target", false);  // absent from models saved before it existed
  } catch (const nlohmann::json::exception& e) {
    throw Error(fmt::format("{}: the metadata's '{}' is not valid: {}", source, kTaskKey, e.what()));
  }
  return task;
}

SavedModel load_saved_model(const std::filesystem::path& path) {
  const std::string source = path.string();
  SavedModel saved;
  saved.metadata = read_checkpoint_metadata(path);
  saved.options = options_from_json(required(saved.metadata, kModelKey, source), source);
  try {
    saved.source_vocab = Vocab::from_json(required(saved.metadata, kSourceVocabKey, source));
    saved.target_vocab = Vocab::from_json(required(saved.metadata, kTargetVocabKey, source));
  } catch (const DataError& e) {
    throw Error(fmt::format("{}: {}", source, e.what()));
  }
  if (saved.source_vocab.size() != saved.options.source_vocab_size ||
      saved.target_vocab.size() != saved.options.target_vocab_size) {
    throw Error(fmt::format("{}: the vocabularies ({} and {} tokens) do not match the model ({} and {})", source,
                            saved.source_vocab.size(), saved.target_vocab.size(), saved.options.source_vocab_size,
                            saved.options.target_vocab_size));
  }
  saved.task = task_from_metadata(saved.metadata, source);
  saved.model = std::make_unique<Seq2Seq>(saved.options);
  LoadResult result = load_checkpoint(*saved.model, path, /*strict=*/false);
  if (!result.missing_keys.empty()) {
    throw CheckpointError(fmt::format("{}: missing parameters {}", source, fmt::join(result.missing_keys, ", ")));
  }
  saved.model->eval();
  return saved;
}

std::vector<SavedModel> load_ensemble(const std::string& first, const std::vector<std::string>& others) {
  std::vector<SavedModel> models;
  models.push_back(load_saved_model(first));
  for (const std::string& path : others) {
    SavedModel m = load_saved_model(path);
    if (!(m.source_vocab == models[0].source_vocab) || !(m.target_vocab == models[0].target_vocab)) {
      throw Error(fmt::format("{}: its vocabularies ({} and {} tokens) differ from those of {} ({} and {}); an "
                              "ensemble needs models trained on the same vocabularies",
                              path, m.source_vocab.size(), m.target_vocab.size(), first,
                              models[0].source_vocab.size(), models[0].target_vocab.size()));
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
        throw Error(fmt::format("{} writes targets {} but {} writes them {}: an ensemble decodes in one direction "
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

}  // namespace tg::cli
