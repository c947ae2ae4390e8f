#include "tapegrad/cli/options.hpp"

#include <filesystem>
#include <string>
#include <system_error>
#include <vector>

#include <fmt/format.h>

#include "tapegrad/base/error.hpp"
#include "tapegrad/cli/bounds.hpp"

namespace tg::cli {
namespace {

// Paths are saved with a model (its task), so they are kept absolute: resumed or
// evaluated from another folder, the model still finds its files.
const CLI::Validator kAbsolutePath(
    [](std::string& path) {
      if (!path.empty()) path = std::filesystem::absolute(path).lexically_normal().string();
      return std::string();
    },
    "PATH");

// The options that only one architecture reads.
const std::vector<std::string> kRecurrentOnly = {
    "--cell", "--hidden", "--decoder-hidden", "--bidirectional", "--unidirectional", "--attention", "--attention-size"};
const std::vector<std::string> kTransformerOnly = {"--feedforward", "--norm", "--positional", "--activation",
                                                   "--share-embeddings"};

}  // namespace

void add_task_options(CLI::App& c, TaskOptions& o, bool with_train_files) {
  c.add_option("--task", o.task, "g2p (CMUdict) or tsv (your own parallel files)")
      ->check(CLI::IsMember({"g2p", "tsv"}))
      ->capture_default_str()
      ->group("Data");
  c.add_option("--dictionary", o.dictionary, "g2p: the CMUdict file")
      ->transform(kAbsolutePath)
      ->capture_default_str()
      ->group("Data");
  if (with_train_files) {
    c.add_option("--train", o.train_file, "tsv: training pairs (source TAB target per line)")
        ->transform(kAbsolutePath)
        ->group("Data");
    c.add_flag("--reverse-target", o.reverse_target,
               "write targets right to left (a model to rescore a left-to-right one's n-best: eval --rescore)")
        ->group("Data");
  }
  c.add_option("--dev", o.dev_file, "tsv: development pairs")->transform(kAbsolutePath)->group("Data");
  c.add_option("--test", o.test_file, "tsv: test pairs")->transform(kAbsolutePath)->group("Data");
  c.add_option("--source-tokens", o.source_tokens, "tsv: chars or words")
      ->check(CLI::IsMember({"chars", "words"}))
      ->capture_default_str()
      ->group("Data");
  c.add_option("--target-tokens", o.target_tokens, "tsv: chars or words")
      ->check(CLI::IsMember({"chars", "words"}))
      ->capture_default_str()
      ->group("Data");
  c.add_option("--max-source-length", o.max_source_length, "most tokens of a source (g2p: characters of a word)")
      ->check(whole_in(1, max_sequence_tokens))
      ->capture_default_str()
      ->group("Data");
  c.add_option("--max-target-length", o.max_target_length, "most tokens of a target (g2p: phonemes)")
      ->check(whole_in(1, max_sequence_tokens))
      ->capture_default_str()
      ->group("Data");
  c.add_option("--long-lines", o.long_lines, "a data line over those limits: skip (with a warning) or refuse")
      ->check(CLI::IsMember({"skip", "refuse"}))
      ->capture_default_str()
      ->group("Data");
}

void add_model_options(CLI::App& c, ModelChoice& m) {
  const char* g = "Model";
  c.add_option("--arch", m.architecture,
               "rnn (the recurrent attention encoder-decoder) or transformer (Vaswani et al. 2017)")
      ->check(CLI::IsMember({"rnn", "transformer"}))
      ->capture_default_str()
      ->group(g);
  c.add_option("--cell", m.cell, "rnn: recurrent cell of the encoder and the decoder")
      ->check(CLI::IsMember({"lstm", "gru"}))
      ->capture_default_str()
      ->group(g);
  c.add_option("--embedding", m.embedding, "embedding size (transformer: d_model, the width of every layer)")
      ->check(whole_in(1, max_size))
      ->capture_default_str()
      ->group(g);
  c.add_option("--hidden", m.hidden, "rnn: encoder hidden size per direction")
      ->check(whole_in(1, max_size))
      ->capture_default_str()
      ->group(g);
  c.add_option("--decoder-hidden", m.decoder_hidden, "rnn: decoder hidden size (0: directions x hidden)")
      ->check(whole_in(0, max_size))
      ->capture_default_str()
      ->group(g);
  c.add_option("--encoder-layers", m.encoder_layers, "stacked encoder layers")
      ->check(whole_in(1, max_layers))
      ->capture_default_str()
      ->group(g);
  c.add_option("--decoder-layers", m.decoder_layers, "stacked decoder cells (transformer: decoder layers)")
      ->check(whole_in(1, max_layers))
      ->capture_default_str()
      ->group(g);
  // Two options, not one with a negated name, so that giving both is refused.
  CLI::Option* bidirectional =
      c.add_flag("--bidirectional", m.bidirectional, "rnn: bidirectional encoder (the default)")->group(g);
  c.add_flag("!--unidirectional", m.bidirectional, "rnn: one-direction encoder")->excludes(bidirectional)->group(g);
  c.add_option("--attention", m.attention, "rnn: additive, dot, general, scaled_dot or multi_head")
      ->check(CLI::IsMember({"additive", "dot", "general", "scaled_dot", "multi_head"}))
      ->capture_default_str()
      ->group(g);
  c.add_option("--attention-size", m.attention_size, "rnn: additive attention's tanh layer (0: the key size)")
      ->check(whole_in(0, max_size))
      ->capture_default_str()
      ->group(g);
  c.add_option("--heads", m.heads,
               "attention heads: rnn's multi_head attention (must divide the decoder hidden size), every "
               "attention of the transformer (must divide --embedding)")
      ->check(whole_in(1, max_heads))
      ->capture_default_str()
      ->group(g);
  c.add_option("--dropout", m.dropout, "dropout while training")
      ->check(number_in(0, 1, Open::max))
      ->capture_default_str()
      ->group(g);
  c.add_option("--label-smoothing", m.label_smoothing, "label smoothing of the loss")
      ->check(number_in(0, 1))
      ->capture_default_str()
      ->group(g);
  c.add_flag("--tie-embeddings", m.tie_embeddings,
             "output projection = decoder embedding (rnn: needs embedding = decoder hidden + context size)")
      ->group(g);
  c.add_option("--feedforward", m.feedforward, "transformer: feed-forward size of each layer (0: 4 x --embedding)")
      ->check(whole_in(0, 4 * max_size))
      ->capture_default_str()
      ->group(g);
  c.add_option("--norm", m.norm,
               "transformer: layer norm before each sub-layer (pre) or after its residual sum (post, as the paper)")
      ->check(CLI::IsMember({"pre", "post"}))
      ->capture_default_str()
      ->group(g);
  c.add_option("--positional", m.positional, "transformer: sinusoidal or learned positions (learned: up to 1024)")
      ->check(CLI::IsMember({"sinusoidal", "learned"}))
      ->capture_default_str()
      ->group(g);
  c.add_option("--activation", m.activation, "transformer: the feed-forward's relu or gelu")
      ->check(CLI::IsMember({"relu", "gelu"}))
      ->capture_default_str()
      ->group(g);
  c.add_flag("--share-embeddings", m.share_embeddings,
             "transformer: one embedding table for source and target (needs the same vocabularies)")
      ->group(g);
}

void check_model_choice(const CLI::App& command, const ModelChoice& m) {
  const auto refuse = [](const std::string& option, const std::string& why) {
    throw CLI::ValidationError(option, why);
  };
  const bool transformer = m.architecture == "transformer";
  for (const std::string& name : transformer ? kRecurrentOnly : kTransformerOnly) {
    if (command.count(name) > 0) {
      refuse(name, fmt::format("an option of --arch {}, not of --arch {}", transformer ? "rnn" : "transformer",
                               m.architecture));
    }
  }
  if (transformer) {
    if (m.embedding % m.heads != 0) {
      refuse("--heads",
             fmt::format("{} heads do not divide --embedding {} (the transformer's d_model)", m.heads, m.embedding));
    }
    return;
  }
  const std::size_t directions = m.bidirectional ? 2 : 1;
  const std::size_t keys = directions * m.hidden;
  const std::size_t decoder = m.decoder_hidden == 0 ? keys : m.decoder_hidden;
  if (m.attention == "multi_head" && decoder % m.heads != 0) {
    refuse("--heads", fmt::format("{} heads do not divide the decoder hidden size {} (--decoder-hidden, or "
                                  "directions x --hidden)",
                                  m.heads, decoder));
  }
  if ((m.attention == "dot" || m.attention == "scaled_dot") && decoder != keys) {
    refuse("--attention", fmt::format("{} needs --decoder-hidden {} = directions x --hidden (query and key sizes "
                                      "agree), got {}",
                                      m.attention, keys, decoder));
  }
  const std::size_t context = m.attention == "multi_head" ? decoder : keys;
  if (m.tie_embeddings && m.embedding != decoder + context) {
    refuse("--tie-embeddings", fmt::format("needs --embedding {} = decoder hidden size {} + context size {}, got {}",
                                           decoder + context, decoder, context, m.embedding));
  }
}

void add_optim_options(CLI::App& c, OptimChoice& o) {
  const char* g = "Optimizer";
  c.add_option("--optimizer", o.optimizer, "adam, adamw, sgd, rmsprop, adagrad or adadelta")
      ->check(CLI::IsMember({"adam", "adamw", "sgd", "rmsprop", "adagrad", "adadelta"}))
      ->capture_default_str()
      ->group(g);
  c.add_option("--lr", o.lr, "peak learning rate")
      ->check(number_in(0, max_lr, Open::min))
      ->capture_default_str()
      ->group(g);
  c.add_option("--weight-decay", o.weight_decay, "weight decay (none on biases and 1-D weights)")
      ->check(number_in(0, 1))
      ->capture_default_str()
      ->group(g);
  c.add_option("--momentum", o.momentum, "sgd and rmsprop momentum")
      ->check(number_in(0, 1, Open::max))
      ->capture_default_str()
      ->group(g);
  c.add_option("--schedule", o.schedule, "constant, step, exponential, cosine, restarts, noam or plateau")
      ->check(CLI::IsMember({"constant", "step", "exponential", "cosine", "restarts", "noam", "plateau"}))
      ->capture_default_str()
      ->group(g);
  c.add_option("--warmup", o.warmup, "linear warmup steps (noam: its warmup)")
      ->check(whole_in(0, max_steps))
      ->capture_default_str()
      ->group(g);
  c.add_option("--min-lr", o.min_lr, "cosine and restarts: the lowest lr")
      ->check(number_in(0, max_lr))
      ->capture_default_str()
      ->group(g);
  c.add_option("--step-size", o.step_size, "step: steps between decays; restarts: first cycle length")
      ->check(whole_in(1, max_steps))
      ->capture_default_str()
      ->group(g);
  c.add_option("--gamma", o.gamma, "step, exponential (per step) and plateau decay factor")
      ->check(number_in(0, 1, Open::min))
      ->capture_default_str()
      ->group(g);
  c.add_option("--patience", o.patience, "plateau: evaluations without improvement before a decay")
      ->check(whole_in(0, max_steps))
      ->capture_default_str()
      ->group(g);
  c.add_option("--clip-norm", o.clip_norm, "clip the gradients' global L2 norm (0: no clipping)")
      ->check(number_in(0, 1e6))
      ->capture_default_str()
      ->group(g);
}

void add_decoding_options(CLI::App& c, DecodingOptions& o, bool with_n_best) {
  c.add_option("--ensemble", o.ensemble,
               "another model of the same vocabularies, decoding with the first (repeat for more)")
      ->allow_extra_args(false)  // one file per --ensemble: predict's sources follow
      ->check(CLI::ExistingFile);
  c.add_option("--rescore", o.rescore,
               "a model that also proposes its n-best and scores every candidate, e.g. one trained with "
               "--reverse-target (repeat for more)")
      ->allow_extra_args(false)
      ->check(CLI::ExistingFile);
  c.add_option("--beam", o.beam, "beam size (1: greedy)")->check(whole_in(1, max_beam))->capture_default_str();
  if (with_n_best) {
    c.add_option("--n-best", o.n_best, "outputs per source, with their scores")
        ->check(whole_in(1, max_beam))
        ->capture_default_str();
  }
  c.add_option("--length-penalty", o.length_penalty, "beam search's length penalty alpha")
      ->check(number_in(0, 10))
      ->capture_default_str();
  c.add_option("--max-source-length", o.max_source_length, "most tokens of a source (0: the model's)")
      ->check(whole_in(0, max_sequence_tokens))
      ->capture_default_str();
}

void check_output_file(const char* command, const std::string& in, const std::string& out, bool overwrite) {
  if (!std::filesystem::exists(out)) return;
  std::error_code not_comparable;
  if (std::filesystem::equivalent(in, out, not_comparable)) {
    throw Error(fmt::format("{}: OUT '{}' is IN itself; write to another file", command, out));
  }
  if (!overwrite) throw Error(fmt::format("{}: '{}' exists; pass --overwrite to replace it", command, out));
}

}  // namespace tg::cli
