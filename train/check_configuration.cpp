#include "tapegrad/train/check_configuration.hpp"

#include <map>
#include <set>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "tapegrad/io/checkpoint.hpp"

namespace tg {
namespace {

/// The file's model tensors by name (a training checkpoint's optimizer state left out), and
/// the refusals that name the field and what the file holds instead.
class FileTensors {
 public:
  FileTensors(const SafetensorsHeader& header, std::string source) : source_(std::move(source)) {
    std::set<std::string> scales;  // an int8 weight's scales are part of it (io/quantized_checkpoint.hpp)
    for (const SafetensorsEntry& t : header.tensors) {
      if (t.dtype == SafetensorsDType::i8) scales.insert(t.name + ".scale");
    }
    for (const SafetensorsEntry& t : header.tensors) {
      if (t.name.find('/') != std::string::npos) continue;  // optimizer state: "optimizer/..."
      if (scales.count(t.name) != 0) continue;
      tensors_[t.name] = &t;
      values_ += double(t.elements);
    }
  }

  bool has(const std::string& name) const { return tensors_.count(name) > 0; }
  double values() const { return values_; }
  std::size_t size() const { return tensors_.size(); }
  /// How many of pattern(0), pattern(1), ... the file holds, in a row.
  template <class Pattern>
  std::size_t count(Pattern pattern) const {
    std::size_t n = 0;
    while (has(pattern(n))) ++n;
    return n;
  }

  template <class T>
  [[noreturn]] void disagree(const char* key, T value, const std::string& found) const {
    throw CheckpointError(fmt::format("{}: the model configuration's {} is {}, but {}", source_, key, value, found));
  }
  /// Tensor `name`'s size on `axis` is `value`; a tensor that is absent is load_checkpoint's to name.
  void expect_dim(const char* key, std::size_t value, const std::string& name, std::size_t axis) const {
    auto it = tensors_.find(name);
    if (it == tensors_.end() || it->second->shape.size() <= axis) return;
    if (it->second->shape[axis] != value) {
      disagree(key, value, fmt::format("tensor '{}' is [{}]", name, fmt::join(it->second->shape, ", ")));
    }
  }
  /// The file holds `layers` of them, unless it holds none (load_checkpoint names what is missing).
  void expect_layers(const char* key, std::size_t value, std::size_t layers, const char* what) const {
    if (layers && layers != value) disagree(key, value, fmt::format("the file holds {} {}", layers, what));
  }
  /// Tensor `name` is in the file exactly when `expected` says so.
  void expect_presence(const char* key, bool value, const std::string& name, bool expected) const {
    if (has(name) != expected) {
      disagree(key, value, fmt::format("the file {} tensor '{}'", has(name) ? "has" : "has no", name));
    }
  }

 private:
  std::string source_;
  std::map<std::string, const SafetensorsEntry*> tensors_;
  double values_ = 0;
};

void check_tensors(const Seq2SeqOptions& o, const FileTensors& file) {
  file.expect_dim("source_vocab_size", o.source_vocab_size, "encoder.embedding.weight", 0);
  file.expect_dim("embedding_size", o.embedding_size, "encoder.embedding.weight", 1);
  file.expect_dim("target_vocab_size", o.target_vocab_size, "decoder.embedding.weight", 0);
  file.expect_dim("hidden_size", o.hidden_size, "encoder.rnn.weight_hh_l0", 1);
  const std::size_t decoder_hidden =
      o.decoder_hidden_size ? o.decoder_hidden_size : (o.bidirectional ? 2 : 1) * o.hidden_size;
  file.expect_dim("decoder_hidden_size", decoder_hidden, "decoder.cells.0.weight_hh", 1);
  file.expect_layers("encoder_layers", o.encoder_layers,
                     file.count([](std::size_t l) { return fmt::format("encoder.rnn.weight_hh_l{}", l); }),
                     "encoder layers");
  file.expect_layers("decoder_layers", o.decoder_layers,
                     file.count([](std::size_t l) { return fmt::format("decoder.cells.{}.weight_hh", l); }),
                     "decoder cells");
  const bool reverse = file.has("encoder.rnn.weight_hh_l0_reverse");
  if (file.has("encoder.rnn.weight_hh_l0") && o.bidirectional != reverse) {
    file.disagree(
        "bidirectional", o.bidirectional,
        reverse ? "the file's encoder has reverse directions" : "the file's encoder has no reverse direction");
  }
}

void check_tensors(const TransformerSeq2SeqOptions& o, const FileTensors& file) {
  const TransformerOptions& t = o.transformer;
  file.expect_dim("source_vocab_size", o.source_vocab_size, "source_embedding.weight", 0);
  file.expect_dim("d_model", t.d_model, "source_embedding.weight", 1);
  file.expect_presence("share_embeddings", o.share_embeddings, "target_embedding.weight", !o.share_embeddings);
  file.expect_dim("target_vocab_size", o.target_vocab_size, "target_embedding.weight", 0);
  file.expect_presence("tie_output", o.tie_output, "output.weight", !o.tie_output);
  file.expect_dim("target_vocab_size", o.target_vocab_size, o.tie_output ? "output_bias" : "output.weight", 0);
  file.expect_dim("dim_feedforward", t.dim_feedforward, "transformer.encoder.layers.0.linear1.weight", 0);
  file.expect_layers("num_encoder_layers", t.num_encoder_layers, file.count([](std::size_t l) {
    return fmt::format("transformer.encoder.layers.{}.linear1.weight", l);
  }),
                     "encoder layers");
  file.expect_layers("num_decoder_layers", t.num_decoder_layers, file.count([](std::size_t l) {
    return fmt::format("transformer.decoder.layers.{}.linear1.weight", l);
  }),
                     "decoder layers");
  const bool learned = o.positional == PositionalKind::learned;
  file.expect_presence("positional", positional_kind_name(o.positional), "source_positions.weight", learned);
  if (learned) file.expect_dim("max_length", o.max_length, "source_positions.weight", 0);
}

}  // namespace

void check_configuration(const ModelOptions& options, const SafetensorsHeader& header, const std::string& source) {
  double expected = 0;
  try {
    expected = parameter_count_of(options);
  } catch (const Error& e) {
    throw Error(fmt::format("{}: the model configuration is not valid: {}", source, e.what()));
  }
  const FileTensors file(header, source);
  std::visit([&](const auto& o) { check_tensors(o, file); }, options);
  // Fewer parameters than the file holds: tensors the model would not load. More, up to twice as
  // many: the model is built, and load_checkpoint names each tensor that differs.
  if (expected < file.values() || expected > 2 * file.values()) {
    throw CheckpointError(
        fmt::format("{}: the model configuration describes {:.0f} parameters, but the file holds "
                    "{:.0f} values in its {} model tensors",
                    source, expected, file.values(), file.size()));
  }
}

}  // namespace tg
