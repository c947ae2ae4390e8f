#pragma once
// The reference seq2seq workload of bench/SPEC.md in both engines: its sizes and data, the
// training step in tapegrad (Seq2SeqOptions::reference and Adam) and in LibTorch (the same
// model written with torch::nn), and LibTorch's greedy and beam decoding, written to follow
// tapegrad's (models/decode.hpp). bench/seq2seq.cpp times them.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <torch/torch.h>
#include <xtensor/xview.hpp>

#include "tapegrad.hpp"
#include "torch_search.hpp"

namespace bench {

struct Size {
  const char* name;
  std::size_t batch, vocab, embed, hidden, length;
  int reps;   // timed samples per engine
  int block;  // steps per sample: each engine runs this many in a row (bench::compare)
};

inline const Size kSizes[] = {{"tiny", 1, 100, 32, 32, 10, 40, 20},
                              {"small", 32, 1000, 64, 128, 20, 30, 1},
                              {"medium", 64, 8000, 256, 512, 30, 5, 1}};

// Forward GEMM FLOPs of one step, as SPEC.md counts them.
inline double forward_flops(const Size& s) {
  const double h = double(s.hidden), e = double(s.embed), v = double(s.vocab), t = double(s.length);
  const double per_token = 8 * h * (e + h) + 8 * h * (e + 2 * h) + 4 * v * h + 4 * h * h + 4 * t * h;
  return per_token * double(s.batch) * t;
}

// Random ids in [1, V) from a fixed seed: source, decoder input and target (no padding).
struct Data {
  std::vector<std::int64_t> source, target_in, target_out;
};

inline Data make_data(const Size& s) {
  Data d;
  std::uint64_t state = 12345;
  auto next = [&] {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    return static_cast<std::int64_t>(1 + (state >> 33) % (s.vocab - 1));
  };
  for (std::size_t i = 0; i < s.batch * s.length; ++i) {
    d.source.push_back(next());
    d.target_out.push_back(next());
  }
  for (std::size_t b = 0; b < s.batch; ++b) {
    d.target_in.push_back(1);  // a start token
    for (std::size_t t = 0; t + 1 < s.length; ++t) d.target_in.push_back(d.target_out[b * s.length + t]);
  }
  return d;
}

// Rows [r.begin, r.end) of a [B, T] batch.
inline tg::Indices rows_of(const tg::Indices& x, tg::RowRange r) {
  return tg::Indices(xt::view(x, xt::range(r.begin, r.end), xt::all()));
}

// tapegrad: the zoo's reference model and Adam. With shard_count > 1 a step can split the batch
// over that many threads, each with its own replica of the model (tg::DataParallel).
struct OursStep {
  // One thread's part of the batch, and its share of the batch's target tokens.
  struct Shard {
    tg::Indices source, target_in, target_out;
    std::vector<std::int64_t> lengths;
    double weight = 1;
  };

  tg::Seq2Seq model;
  tg::Adam adam;
  tg::Indices source, target_in, target_out;
  std::vector<std::int64_t> lengths;
  std::unique_ptr<tg::DataParallel<tg::Seq2Seq>> parallel;
  std::vector<Shard> shards;

  OursStep(const Size& s, const Data& d, std::size_t shard_count = 1)
      : model(tg::Seq2SeqOptions::reference(s.vocab, s.embed, s.hidden)),
        adam(model.parameters(), tg::AdamOptions{.lr = 1e-3}),
        source(indices(d.source, s)),
        target_in(indices(d.target_in, s)),
        target_out(indices(d.target_out, s)),
        lengths(s.batch, static_cast<std::int64_t>(s.length)) {
    shard_count = std::min(shard_count, s.batch);
    if (shard_count < 2) return;
    parallel = std::make_unique<tg::DataParallel<tg::Seq2Seq>>(model, shard_count);
    for (std::size_t i = 0; i < shard_count; ++i) {
      const tg::RowRange r = tg::shard_rows(s.batch, i, shard_count);
      // No padding in the data: a shard's share of the tokens is its share of the rows.
      shards.push_back({rows_of(source, r), rows_of(target_in, r), rows_of(target_out, r),
                        std::vector<std::int64_t>(r.size(), static_cast<std::int64_t>(s.length)),
                        double(r.size()) / double(s.batch)});
    }
  }

  static tg::Indices indices(const std::vector<std::int64_t>& ids, const Size& s) {
    tg::Indices out = tg::Indices::from_shape({s.batch, s.length});
    std::copy(ids.begin(), ids.end(), out.begin());
    return out;
  }

  // One step; with data_parallel (which needs shard_count > 1) over the shards, on their threads.
  void step(bool data_parallel) {
    if (data_parallel && !parallel) throw std::logic_error("OursStep: a data-parallel step of a model made unsplit");
    adam.zero_grad();
    if (data_parallel) {
      parallel->run([&](std::size_t i, const tg::Seq2Seq& m) {
        const Shard& part = shards[i];
        tg::Var loss = m.loss(part.source, part.lengths, part.target_in, part.target_out);
        loss.backward(tg::Tensor::scalar(part.weight));
      });
    } else {
      tg::Var loss = model.loss(source, lengths, target_in, target_out);
      loss.backward();
    }
    adam.step();
    tg::current_tape().reset();
  }
};

// LibTorch: the same model, written as SPEC.md describes it.
struct TorchSeq2Seq : torch::nn::Module {
  torch::nn::Embedding source_embedding{nullptr}, target_embedding{nullptr};
  torch::nn::LSTM encoder{nullptr};
  torch::nn::LSTMCell cell{nullptr};
  torch::nn::Linear keys{nullptr}, query{nullptr}, output{nullptr};
  torch::Tensor v;

  TorchSeq2Seq(const Size& s) {
    const auto V = static_cast<long>(s.vocab), E = static_cast<long>(s.embed), H = static_cast<long>(s.hidden);
    source_embedding =
        register_module("source_embedding", torch::nn::Embedding(torch::nn::EmbeddingOptions(V, E).padding_idx(0)));
    target_embedding =
        register_module("target_embedding", torch::nn::Embedding(torch::nn::EmbeddingOptions(V, E).padding_idx(0)));
    encoder = register_module("encoder", torch::nn::LSTM(torch::nn::LSTMOptions(E, H).batch_first(true)));
    cell = register_module("cell", torch::nn::LSTMCell(E + H, H));
    keys = register_module("keys", torch::nn::Linear(torch::nn::LinearOptions(H, H).bias(false)));
    query = register_module("query", torch::nn::Linear(H, H));
    v = register_parameter("v", torch::randn({H}) * 0.1);
    output = register_module("output", torch::nn::Linear(2 * H, V));
  }

  // One decoder step (SPEC.md's): the new state and context, and the log-probabilities of the next token.
  struct Step {
    torch::Tensor s, c, context, log_probs;
  };
  Step step(const torch::Tensor& h, const torch::Tensor& k, const torch::Tensor& padding, const torch::Tensor& tokens,
            const torch::Tensor& s, const torch::Tensor& c, const torch::Tensor& context) {
    Step out;
    std::tie(out.s, out.c) = cell(torch::cat({target_embedding(tokens), context}, 1), std::make_tuple(s, c));
    torch::Tensor scores = torch::tanh(k + query(out.s).unsqueeze(1)).matmul(v);
    scores = scores.masked_fill(padding, -std::numeric_limits<float>::infinity());
    out.context = torch::bmm(torch::softmax(scores, 1).unsqueeze(1), h).squeeze(1);
    out.log_probs = torch::log_softmax(output(torch::cat({out.s, out.context}, 1)), 1);
    return out;
  }

  torch::Tensor loss(const torch::Tensor& source, const torch::Tensor& target_in, const torch::Tensor& target_out) {
    auto [h, final_state] = encoder->forward(source_embedding(source));
    const torch::Tensor k = keys(h);
    const torch::Tensor padding = source.eq(0);
    torch::Tensor s = std::get<0>(final_state).squeeze(0), c = std::get<1>(final_state).squeeze(0);
    torch::Tensor context = torch::zeros_like(s);
    const torch::Tensor embedded = target_embedding(target_in);
    std::vector<torch::Tensor> outputs;
    for (long t = 0; t < target_in.size(1); ++t) {
      std::tie(s, c) = cell(torch::cat({embedded.select(1, t), context}, 1), std::make_tuple(s, c));
      torch::Tensor scores = torch::tanh(k + query(s).unsqueeze(1)).matmul(v);
      scores = scores.masked_fill(padding, -std::numeric_limits<float>::infinity());
      context = torch::bmm(torch::softmax(scores, 1).unsqueeze(1), h).squeeze(1);
      outputs.push_back(torch::cat({s, context}, 1));
    }
    const torch::Tensor logits = output(torch::stack(outputs, 1));
    return torch::nn::functional::cross_entropy(logits.reshape({-1, logits.size(2)}), target_out.reshape(-1),
                                                torch::nn::functional::CrossEntropyFuncOptions().ignore_index(0));
  }
};

struct TheirsStep {
  std::shared_ptr<TorchSeq2Seq> model;
  torch::optim::Adam adam;
  torch::Tensor source, target_in, target_out;

  TheirsStep(const Size& s, const Data& d)
      : model(std::make_shared<TorchSeq2Seq>(s)),
        adam(model->parameters(), torch::optim::AdamOptions(1e-3)),
        source(tensor(d.source, s)),
        target_in(tensor(d.target_in, s)),
        target_out(tensor(d.target_out, s)) {}

  static torch::Tensor tensor(const std::vector<std::int64_t>& ids, const Size& s) {
    return torch::tensor(ids, torch::kLong).reshape({static_cast<long>(s.batch), static_cast<long>(s.length)});
  }

  void operator()() {
    adam.zero_grad();
    torch::Tensor loss = model->loss(source, target_in, target_out);
    loss.backward();
    adam.step();
  }
};

// ---- Decoding: the reference model with the same weights in both engines ----

// tapegrad's parameter names -> the LibTorch model's.
inline void copy_weights(const tg::Seq2Seq& from, TorchSeq2Seq& to) {
  const std::map<std::string, std::string> names = {{"encoder.embedding.weight", "source_embedding.weight"},
                                                    {"encoder.rnn.weight_ih_l0", "encoder.weight_ih_l0"},
                                                    {"encoder.rnn.weight_hh_l0", "encoder.weight_hh_l0"},
                                                    {"encoder.rnn.bias_ih_l0", "encoder.bias_ih_l0"},
                                                    {"encoder.rnn.bias_hh_l0", "encoder.bias_hh_l0"},
                                                    {"decoder.embedding.weight", "target_embedding.weight"},
                                                    {"decoder.cells.0.weight_ih", "cell.weight_ih"},
                                                    {"decoder.cells.0.weight_hh", "cell.weight_hh"},
                                                    {"decoder.cells.0.bias_ih", "cell.bias_ih"},
                                                    {"decoder.cells.0.bias_hh", "cell.bias_hh"},
                                                    {"decoder.attention.v", "v"},
                                                    {"decoder.attention.query_proj.weight", "query.weight"},
                                                    {"decoder.attention.query_proj.bias", "query.bias"},
                                                    {"decoder.attention.key_proj.weight", "keys.weight"},
                                                    {"decoder.output.weight", "output.weight"},
                                                    {"decoder.output.bias", "output.bias"}};
  torch::NoGradGuard no_grad;
  auto theirs = to.named_parameters();
  std::size_t copied = 0;
  for (const tg::NamedVar& p : from.named_parameters()) {
    const auto it = names.find(p.name);
    if (it == names.end() || !theirs.contains(it->second)) {
      throw std::runtime_error("copy_weights: no LibTorch parameter for " + p.name);
    }
    torch::Tensor dst = theirs[it->second];
    const tg::Array<float>& src = p.var.value().array<float>();
    if (static_cast<std::size_t>(dst.numel()) != src.size())
      throw std::runtime_error("copy_weights: size of " + p.name);
    dst.copy_(torch::from_blob(const_cast<float*>(src.data()), dst.sizes(), torch::kFloat));
    ++copied;
  }
  if (copied != theirs.size()) throw std::runtime_error("copy_weights: LibTorch has parameters tapegrad lacks");
}

// LibTorch's greedy decoding and beam search of the reference model (torch_search.hpp), its
// decoder state (s, c, context) carried from step to step and reordered with the beams.
struct TorchDecoderState {
  TorchSeq2Seq& m;
  torch::Tensor h, k, padding, s, c, context;

  // The encoder run once over `source`, each sentence's rows repeated `beam` times.
  TorchDecoderState(TorchSeq2Seq& model, const torch::Tensor& source, long beam) : m(model) {
    torch::NoGradGuard no_grad;
    auto [h0, final_state] = m.encoder->forward(m.source_embedding(source));
    h = h0, padding = source.eq(0);
    s = std::get<0>(final_state).squeeze(0), c = std::get<1>(final_state).squeeze(0);
    if (beam > 1) {
      const torch::Tensor rows_of = torch::arange(source.size(0)).repeat_interleave(beam);
      h = h.index_select(0, rows_of), padding = padding.index_select(0, rows_of);
      s = s.index_select(0, rows_of), c = c.index_select(0, rows_of);
    }
    k = m.keys(h);
    context = torch::zeros_like(s);
  }
  torch::Tensor operator()(const torch::Tensor& tokens) {
    TorchSeq2Seq::Step step = m.step(h, k, padding, tokens, s, c, context);
    s = step.s, c = step.c, context = step.context;
    return step.log_probs;
  }
  void reorder(const torch::Tensor& order) {
    s = s.index_select(0, order), c = c.index_select(0, order), context = context.index_select(0, order);
  }
};

inline Tokens torch_greedy(TorchSeq2Seq& m, const torch::Tensor& source, long max_length) {
  TorchDecoderState state(m, source, 1);
  return torch_greedy_search(source.size(0), max_length, state);
}

inline Tokens torch_beam(TorchSeq2Seq& m, const torch::Tensor& source, long beam, long max_length, double alpha) {
  TorchDecoderState state(m, source, beam);
  return torch_beam_search(source.size(0), beam, max_length, alpha, state,
                           [&](const torch::Tensor& order) { state.reorder(order); });
}

// tapegrad's best hypothesis per sentence, EOS excluded.
inline std::vector<std::vector<std::int64_t>> best_tokens(const std::vector<std::vector<tg::Hypothesis>>& hyps) {
  std::vector<std::vector<std::int64_t>> out;
  for (const auto& list : hyps) {
    std::vector<std::int64_t> t = list.empty() ? std::vector<std::int64_t>{} : list[0].tokens;
    if (!t.empty() && t.back() == kEos) t.pop_back();
    out.push_back(std::move(t));
  }
  return out;
}

// tapegrad's greedy decoding (beam 1) or beam search of some sentences.
inline Tokens decode_rows(const tg::Seq2Seq& m, const tg::Indices& source, const std::vector<std::int64_t>& lengths,
                          std::size_t beam, std::size_t max_length) {
  if (beam == 1) {
    std::vector<std::vector<tg::Hypothesis>> lists;
    for (tg::Hypothesis& h : tg::greedy_decode(m, source, lengths, {.max_length = max_length}))
      lists.push_back({std::move(h)});
    return best_tokens(lists);
  }
  return best_tokens(
      tg::beam_search(m, source, lengths,
                      {.beam_size = beam, .length_penalty = kLengthPenalty, .n_best = 1, .max_length = max_length}));
}

}  // namespace bench
