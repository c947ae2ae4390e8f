#include "tapegrad/models/decode.hpp"

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <numeric>
#include <span>

#include <fmt/format.h>

#include "tapegrad/autodiff/mode.hpp"
#include "tapegrad/ops/index.hpp"
#include "tapegrad/ops/packed_weights.hpp"
#include "tapegrad/ops/shape.hpp"
#include "tapegrad/ops/softmax.hpp"

namespace tg {
namespace {

constexpr double minus_inf = -std::numeric_limits<double>::infinity();

/// Beam search's order of candidates (score, index): higher score first, then lower index.
bool better_candidate(const std::pair<double, std::size_t>& a, const std::pair<double, std::size_t>& c) {
  return a.first > c.first || (a.first == c.first && a.second < c.second);
}

/// The 2K best extensions (score, k * V + token) of one sentence's K beams, best first, from
/// the log-probabilities of its rows [K, V] and the beams' scores (-inf: not alive). Scanned in
/// index order, a candidate enters only when it beats the worst kept, which after the first
/// few is rare.
template <class T>
void best_extensions(const T* log_probs, std::size_t vocab, std::size_t beam, std::span<const double> scores,
                     std::vector<std::pair<double, std::size_t>>& candidates) {
  const std::size_t ranked = 2 * beam;
  candidates.clear();
  for (std::size_t k = 0; k < beam; ++k) {
    if (scores[k] == minus_inf) continue;
    const T* row = log_probs + k * vocab;
    for (std::size_t v = 0; v < vocab; ++v) {
      const double score = scores[k] + static_cast<double>(row[v]);
      if (candidates.size() == ranked && !(score > candidates.back().first)) continue;
      const std::pair<double, std::size_t> c{score, k * vocab + v};
      candidates.insert(std::upper_bound(candidates.begin(), candidates.end(), c, better_candidate), c);
      if (candidates.size() > ranked) candidates.pop_back();
    }
  }
}

/// A value as float64, for reading scores on the CPU whatever the model's dtype.
Tensor as_f64(const Var& v) { return v.value().dtype() == DType::f64 ? v.value() : v.value().to(DType::f64); }

/// Row r of an [N, S] attention value, cut to the sentence's source length, as float64
/// (the rows are read in the model's dtype: no copy of the whole value per step).
std::vector<double> attention_row(const Tensor& weights, std::size_t r, std::int64_t length) {
  const std::size_t steps = weights.shape()[1];
  const std::size_t kept = std::min<std::size_t>(steps, static_cast<std::size_t>(length));
  std::vector<double> row(kept);
  dispatch(weights.dtype(), [&](auto zero) {
    using T = decltype(zero);
    const T* p = weights.array<T>().data() + r * steps;
    for (std::size_t s = 0; s < kept; ++s) row[s] = static_cast<double>(p[s]);
  });
  return row;
}

void check_source(const Indices& source, const char* who) {
  if (source.dimension() != 2 || source.shape()[0] == 0) {
    throw ShapeError(fmt::format("{}: source must be [B, S] with B >= 1, got rank {}", who, source.dimension()));
  }
}

/// The models of an ensemble read and write the same tokens: the same
/// vocabulary sizes and special ids.
void check_ensemble(std::span<const DecodingModel* const> models) {
  if (models.empty()) throw Error("beam_search: an ensemble needs at least one model");
  const DecodingVocabulary first = models[0]->vocabulary();
  for (std::size_t m = 1; m < models.size(); ++m) {
    const DecodingVocabulary o = models[m]->vocabulary();
    if (o.source_size != first.source_size || o.target_size != first.target_size || o.pad_id != first.pad_id ||
        o.bos_id != first.bos_id || o.eos_id != first.eos_id) {
      throw Error(fmt::format(
          "beam_search: ensemble model {} has vocabularies {} -> {} (pad {}, bos {}, eos {}) but model 0 has {} -> {} "
          "(pad {}, bos {}, eos {})",
          m, o.source_size, o.target_size, o.pad_id, o.bos_id, o.eos_id, first.source_size, first.target_size,
          first.pad_id, first.bos_id, first.eos_id));
    }
  }
}

/// The shared loop of greedy decoding and sampling: one token per sentence and step from
/// choose(sentence, logits row, log-probability row, V), the rows in the model's dtype (a
/// generic lambda: no [B, V] copy to float64 per step).
template <class Choose>
std::vector<Hypothesis> decode_one_by_one(const DecodingModel& model, const Indices& source,
                                          const std::vector<std::int64_t>& lengths, std::size_t max_length,
                                          Choose&& choose, const char* who) {
  NoGradGuard no_grad;
  FrozenWeights frozen;  // every step multiplies by the same weights: pack them once
  check_source(source, who);
  if (max_length == 0) throw Error(fmt::format("{}: max_length must be >= 1", who));
  const DecodingVocabulary o = model.vocabulary();
  std::unique_ptr<DecodingState> state = model.start_decoding(source, lengths);
  const std::size_t batch = source.shape()[0];
  std::vector<Hypothesis> out(batch);
  Indices tokens = Indices(std::vector<std::size_t>{batch}, o.bos_id);
  std::size_t remaining = batch;
  for (std::size_t t = 0; t < max_length && remaining > 0; ++t) {
    DecodingStep step = model.next_step(*state, tokens);
    const Tensor& logits = step.logits.value();
    const Tensor log_probs = log_softmax(step.logits, -1).value();
    const Tensor& weights = step.attention.value();
    const std::size_t vocab = logits.shape()[1];
    dispatch(logits.dtype(), [&](auto zero) {
      using T = decltype(zero);
      for (std::size_t b = 0; b < batch; ++b) {
        Hypothesis& h = out[b];
        if (h.finished) continue;
        const T* lp = log_probs.array<T>().data() + b * vocab;
        const std::int64_t v = choose(b, logits.array<T>().data() + b * vocab, lp, vocab);
        h.tokens.push_back(v);
        h.score += static_cast<double>(lp[v]);
        h.attention.push_back(attention_row(weights, b, state->source_lengths[b]));
        tokens(b) = v;
        if (v == o.eos_id) {
          h.finished = true;
          --remaining;
        }
      }
    });
  }
  for (Hypothesis& h : out) h.normalized_score = h.score;
  return out;
}

/// decode_memory_bytes's share of the search itself, with attention weights of `element` bytes.
double search_bytes(double element, std::size_t batch, std::size_t source_length, std::size_t beam,
                    std::size_t max_length) {
  const double rows = double(batch) * double(std::max<std::size_t>(beam, 1)), s = double(source_length);
  const double steps = double(max_length);
  const double history = steps * rows * s * element;               // each step's attention weights
  const double hypotheses = 2.0 * rows * steps * (s * 8.0 + 8.0);  // finished ones: attention and tokens
  return history + hypotheses;
}

}  // namespace

double decode_memory_bytes(std::span<const DecodingModel* const> models, std::size_t batch, std::size_t source_length,
                           std::size_t beam, std::size_t max_length) {
  if (models.empty()) throw Error("decode_memory_bytes: needs at least one model");
  const double element = models[0]->dtype() == DType::f64 ? 8.0 : 4.0;
  double bytes = search_bytes(element, batch, source_length, beam, max_length);
  const std::size_t rows = batch * std::max<std::size_t>(beam, 1);
  for (const DecodingModel* m : models) bytes += m->decoding_bytes(rows, source_length, max_length);
  return bytes;
}

double decode_memory_bytes(const DecodingModel& model, std::size_t batch, std::size_t source_length, std::size_t beam,
                           std::size_t max_length) {
  const DecodingModel* one[] = {&model};
  return decode_memory_bytes(std::span<const DecodingModel* const>(one), batch, source_length, beam, max_length);
}

double decode_memory_bytes(const Seq2SeqOptions& o, std::size_t batch, std::size_t source_length, std::size_t beam,
                           std::size_t max_length, std::size_t models) {
  const double element = o.dtype == DType::f64 ? 8.0 : 4.0;
  const std::size_t rows = batch * std::max<std::size_t>(beam, 1);
  return search_bytes(element, batch, source_length, beam, max_length) +
         double(std::max<std::size_t>(models, 1)) * decoding_bytes_of(o, rows, source_length);
}

double length_penalty(std::size_t length, double alpha) {
  return std::pow((5.0 + static_cast<double>(length)) / 6.0, alpha);
}

std::vector<double> score_targets(const DecodingModel& model, const Indices& source,
                                  const std::vector<std::int64_t>& lengths,
                                  const std::vector<std::vector<std::int64_t>>& targets) {
  NoGradGuard no_grad;
  FrozenWeights frozen;
  check_source(source, "score_targets");
  const DecodingVocabulary o = model.vocabulary();
  const std::size_t batch = source.shape()[0];
  if (targets.size() != batch) {
    throw ShapeError(fmt::format("score_targets: {} targets for a source of batch size {}", targets.size(), batch));
  }
  std::size_t longest = 0;
  for (std::size_t b = 0; b < batch; ++b) {
    for (std::int64_t v : targets[b]) {
      if (v < 0 || static_cast<std::size_t>(v) >= o.target_size) {
        throw IndexError(fmt::format("score_targets: target {} holds token {}, outside [0, {})", b, v, o.target_size));
      }
    }
    longest = std::max(longest, targets[b].size());
  }
  std::unique_ptr<DecodingState> state = model.start_decoding(source, lengths);
  std::vector<double> scores(batch, 0.0);
  Indices tokens = Indices(std::vector<std::size_t>{batch}, o.bos_id);
  // Step t scores token t of each target, and at t = its length the EOS; a
  // finished sentence goes on being fed EOS and its rows are not read.
  for (std::size_t t = 0; t <= longest; ++t) {
    DecodingStep step = model.next_step(*state, tokens);
    const Tensor log_probs = as_f64(log_softmax(step.logits, -1));
    const std::size_t vocab = log_probs.shape()[1];
    for (std::size_t b = 0; b < batch; ++b) {
      const std::vector<std::int64_t>& y = targets[b];
      if (t > y.size()) continue;
      const std::int64_t v = t < y.size() ? y[t] : o.eos_id;
      scores[b] += log_probs.array<double>().data()[b * vocab + static_cast<std::size_t>(v)];
      tokens(b) = v;
    }
  }
  return scores;
}

std::vector<Hypothesis> greedy_decode(const DecodingModel& model, const Indices& source,
                                      const std::vector<std::int64_t>& lengths, const GreedyOptions& options) {
  auto argmax = [](std::size_t, const auto* logits, const auto*, std::size_t vocab) {
    return static_cast<std::int64_t>(std::max_element(logits, logits + vocab) - logits);
  };
  return decode_one_by_one(model, source, lengths, options.max_length, argmax, "greedy_decode");
}

std::vector<Hypothesis> sample(const DecodingModel& model, const Indices& source, Generator& gen,
                               const std::vector<std::int64_t>& lengths, const SamplingOptions& options) {
  if (!(options.temperature > 0.0)) {
    throw Error(fmt::format("sample: temperature must be > 0, got {}", options.temperature));
  }
  if (!(options.top_p > 0.0 && options.top_p <= 1.0)) {
    throw Error(fmt::format("sample: top_p must be in (0, 1], got {}", options.top_p));
  }
  std::vector<std::size_t> order;
  std::vector<double> probs;
  auto draw = [&](std::size_t, const auto* logits, const auto*, std::size_t vocab) -> std::int64_t {
    // Most likely first; ties by token id, so that top_k = 1 picks what greedy picks.
    order.resize(vocab);
    std::iota(order.begin(), order.end(), std::size_t{0});
    auto better = [&](std::size_t a, std::size_t b) {
      return logits[a] > logits[b] || (logits[a] == logits[b] && a < b);
    };
    const std::size_t kept = options.top_k > 0 ? std::min(options.top_k, vocab) : vocab;
    std::partial_sort(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(kept), order.end(), better);
    probs.resize(kept);
    const double top = logits[order[0]] / options.temperature;
    double mass = 0.0;
    for (std::size_t i = 0; i < kept; ++i) {
      probs[i] = std::exp(logits[order[i]] / options.temperature - top);
      mass += probs[i];
    }
    // Nucleus: the shortest prefix whose share of the (top-k) mass reaches top_p.
    std::size_t nucleus = kept;
    if (options.top_p < 1.0) {
      double cumulative = 0.0;
      for (std::size_t i = 0; i < kept; ++i) {
        cumulative += probs[i];
        if (cumulative >= options.top_p * mass) {
          nucleus = i + 1;
          break;
        }
      }
      mass = cumulative;
    }
    double u = gen.uniform() * mass;
    for (std::size_t i = 0; i < nucleus; ++i) {
      u -= probs[i];
      if (u < 0.0) return static_cast<std::int64_t>(order[i]);
    }
    return static_cast<std::int64_t>(order[nucleus - 1]);  // rounding left u at the very end
  };
  return decode_one_by_one(model, source, lengths, options.max_length, draw, "sample");
}

std::vector<std::vector<Hypothesis>> beam_search(const DecodingModel& model, const Indices& source,
                                                 const std::vector<std::int64_t>& lengths,
                                                 const BeamSearchOptions& options) {
  const DecodingModel* one[] = {&model};
  return beam_search(std::span<const DecodingModel* const>(one), source, lengths, options);
}

std::vector<std::vector<Hypothesis>> beam_search(std::span<const Seq2Seq* const> models, const Indices& source,
                                                 const std::vector<std::int64_t>& lengths,
                                                 const BeamSearchOptions& options) {
  const std::vector<const DecodingModel*> ensemble(models.begin(), models.end());
  return beam_search(std::span<const DecodingModel* const>(ensemble), source, lengths, options);
}

std::vector<std::vector<Hypothesis>> beam_search(std::span<const DecodingModel* const> models, const Indices& source,
                                                 const std::vector<std::int64_t>& lengths,
                                                 const BeamSearchOptions& options) {
  NoGradGuard no_grad;
  FrozenWeights frozen;  // every step multiplies by the same weights: pack them once
  check_source(source, "beam_search");
  const std::size_t beam = options.beam_size;
  if (beam == 0 || options.n_best == 0 || options.n_best > beam || options.max_length == 0) {
    throw Error(
        fmt::format("beam_search: needs beam_size >= 1 (got {}), n_best in [1, beam_size] (got {}) and "
                    "max_length >= 1 (got {})",
                    beam, options.n_best, options.max_length));
  }
  check_ensemble(models);
  const DecodingVocabulary o = models[0]->vocabulary();
  const std::size_t batch = source.shape()[0], rows = batch * beam;

  // Row b*K + k is beam k of sentence b; each encoder ran once per sentence.
  Indices sentence_of = Indices(std::vector<std::size_t>{rows}, std::int64_t{});
  for (std::size_t r = 0; r < rows; ++r) sentence_of(r) = static_cast<std::int64_t>(r / beam);
  std::vector<std::unique_ptr<DecodingState>> states;
  std::vector<std::int64_t> source_lengths;  // per sentence
  for (const DecodingModel* m : models) {
    states.push_back(m->start_decoding(source, lengths));
    if (source_lengths.empty()) source_lengths = states.back()->source_lengths;
    m->reorder(*states.back(), sentence_of);
  }

  // Only beam 0 starts alive, so the first step does not pick K copies of one hypothesis.
  std::vector<double> scores(rows, minus_inf);
  for (std::size_t b = 0; b < batch; ++b) scores[b * beam] = 0.0;
  Indices tokens = Indices(std::vector<std::size_t>{rows}, o.bos_id);

  // Back-pointers: at step t, row r holds token history_token[t][r], extending row
  // history_parent[t][r] of step t, whose attention while choosing it is history_attention[t].
  std::vector<std::vector<std::int64_t>> history_token, history_parent;
  std::vector<Tensor> history_attention;
  std::vector<std::vector<Hypothesis>> finished(batch);
  std::vector<bool> done(batch, false);

  // The hypothesis that extends row `parent` of step t by token v.
  auto build = [&](std::size_t b, std::size_t parent, std::size_t t, std::int64_t v, double score, bool ended) {
    Hypothesis h;
    h.tokens.push_back(v);
    h.attention.push_back(attention_row(history_attention[t], parent, source_lengths[b]));
    std::size_t r = parent;
    for (std::size_t s = t; s-- > 0;) {
      h.tokens.push_back(history_token[s][r]);
      r = static_cast<std::size_t>(history_parent[s][r]);
      h.attention.push_back(attention_row(history_attention[s], r, source_lengths[b]));
    }
    std::reverse(h.tokens.begin(), h.tokens.end());
    std::reverse(h.attention.begin(), h.attention.end());
    h.score = score;
    h.normalized_score = score / length_penalty(h.tokens.size(), options.length_penalty);
    h.finished = ended;
    return h;
  };

  std::vector<std::pair<double, std::size_t>> candidates;
  for (std::size_t t = 0; t < options.max_length; ++t) {
    // An ensemble scores with the mean of its models' log-probabilities; the
    // attention shown is the first model's.
    std::vector<DecodingStep> steps;
    for (std::size_t m = 0; m < models.size(); ++m) steps.push_back(models[m]->next_step(*states[m], tokens));
    // One model's log-probabilities stay in its dtype (no copy of [B*K, V] per step).
    Tensor log_probs = log_softmax(steps[0].logits, -1).value();
    if (models.size() > 1) {
      log_probs = Tensor(Array<double>(log_probs.to(DType::f64).array<double>()));  // a copy of its own to add into
      for (std::size_t m = 1; m < models.size(); ++m) log_probs.add_(as_f64(log_softmax(steps[m].logits, -1)));
      log_probs.array<double>() /= static_cast<double>(models.size());
    }
    history_attention.push_back(steps[0].attention.value());
    const std::size_t vocab = log_probs.shape()[1];
    std::vector<std::int64_t> parent(rows), next(rows, o.eos_id);
    std::vector<double> next_scores(rows, minus_inf);
    for (std::size_t r = 0; r < rows; ++r) parent[r] = static_cast<std::int64_t>(r);
    const bool last = t + 1 == options.max_length;
    for (std::size_t b = 0; b < batch; ++b) {
      if (done[b]) continue;
      // The 2K best extensions: each beam has one EOS, so at least K of them are not EOS.
      dispatch(log_probs.dtype(), [&](auto zero) {
        using T = decltype(zero);
        best_extensions(log_probs.array<T>().data() + b * beam * vocab, vocab, beam,
                        std::span<const double>(scores).subspan(b * beam, beam), candidates);
      });
      std::size_t alive = 0;
      for (std::size_t i = 0; i < candidates.size(); ++i) {
        const auto [score, flat] = candidates[i];
        if (score == minus_inf) break;
        const std::size_t from = b * beam + flat / vocab;
        const auto v = static_cast<std::int64_t>(flat % vocab);
        if (v == o.eos_id) {
          if (i < beam) finished[b].push_back(build(b, from, t, v, score, true));
        } else if (alive < beam) {
          const std::size_t slot = b * beam + alive++;
          parent[slot] = static_cast<std::int64_t>(from);
          next[slot] = v;
          next_scores[slot] = score;
        }
      }
      if (finished[b].size() >= beam || alive == 0) {
        done[b] = true;
      } else if (last) {
        for (std::size_t k = 0; k < alive; ++k) {
          const std::size_t slot = b * beam + k;
          finished[b].push_back(
              build(b, static_cast<std::size_t>(parent[slot]), t, next[slot], next_scores[slot], false));
        }
        done[b] = true;
      }
    }
    history_token.push_back(next);
    history_parent.push_back(parent);
    if (std::all_of(done.begin(), done.end(), [](bool d) { return d; })) break;
    Indices order = Indices(std::vector<std::size_t>{rows}, std::int64_t{});
    for (std::size_t r = 0; r < rows; ++r) {
      order(r) = parent[r];
      tokens(r) = next[r];
    }
    for (std::size_t m = 0; m < models.size(); ++m) models[m]->reorder(*states[m], order);
    scores = std::move(next_scores);
  }

  for (std::vector<Hypothesis>& list : finished) {
    std::stable_sort(list.begin(), list.end(),
                     [](const Hypothesis& a, const Hypothesis& c) { return a.normalized_score > c.normalized_score; });
    if (list.size() > options.n_best) list.resize(options.n_best);
  }
  return finished;
}

}  // namespace tg
