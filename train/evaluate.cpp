#include "tapegrad/train/evaluate.hpp"

#include <algorithm>
#include <numeric>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <sys/resource.h>
#include <unistd.h>

#include "tapegrad/autodiff/tape.hpp"
#include "tapegrad/metrics/bleu.hpp"
#include "tapegrad/metrics/rouge.hpp"

namespace tg {
double memory_budget_bytes() {
  const long pages = sysconf(_SC_PHYS_PAGES), page_size = sysconf(_SC_PAGE_SIZE);
  double bytes = pages > 0 && page_size > 0 ? double(pages) * double(page_size) : 8e9;
  rlimit limit{};
  if (getrlimit(RLIMIT_AS, &limit) == 0 && limit.rlim_cur != RLIM_INFINITY) {
    bytes = std::min(bytes, double(limit.rlim_cur));
  }
  return bytes / 2;
}

std::vector<Prediction> decode_all(DecodingModel& model, const std::vector<Tokens>& sources, const Vocab& source_vocab,
                                   const Vocab& target_vocab, const DecodeChoice& choice) {
  DecodingModel* one[] = {&model};
  return decode_all(std::span<DecodingModel* const>(one), sources, source_vocab, target_vocab, choice);
}

std::vector<Prediction> decode_all(std::span<DecodingModel* const> models, const std::vector<Tokens>& sources,
                                   const Vocab& source_vocab, const Vocab& target_vocab, const DecodeChoice& choice) {
  // Longest first, so batches hold sources of similar length (little padding).
  std::vector<std::size_t> order(sources.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t b) { return sources[a].size() > sources[b].size(); });
  std::vector<Example> examples;
  for (const Tokens& s : sources) {
    std::vector<std::int64_t> ids = source_vocab.encode(s);
    if (ids.empty()) throw Error("decode: a source has no tokens");
    examples.push_back({std::move(ids), {}});
  }
  std::vector<bool> was_training;
  std::vector<const DecodingModel*> ensemble;
  for (DecodingModel* m : models) {
    was_training.push_back(m->is_training());
    m->eval();
    ensemble.push_back(m);
  }
  auto restore = [&] {
    for (std::size_t i = 0; i < models.size(); ++i) models[i]->train(was_training[i]);
  };
  std::vector<Prediction> out(sources.size());
  const std::size_t batch_size = std::max<std::size_t>(1, choice.batch_size);
  const std::size_t beam = choice.beam <= 1 && ensemble.size() == 1 ? 1 : std::max<std::size_t>(1, choice.beam);
  const double budget = memory_budget_bytes();
  try {
    for (std::size_t begin = 0; begin < order.size();) {
      // Longest first: the batch's first source sets its length, and its memory.
      const std::size_t longest = examples[order[begin]].source.size();
      const std::size_t max_length = choice.max_length ? choice.max_length : 2 * longest + 10;
      auto bytes = [&](std::size_t n) { return decode_memory_bytes(ensemble, n, longest, beam, max_length); };
      if (bytes(1) > budget) {
        const Tokens& s = sources[order[begin]];
        const std::vector<std::string> shown(s.begin(), s.begin() + std::min<std::ptrdiff_t>(20, std::ssize(s)));
        throw Error(
            fmt::format("decoding source {} of {} ('{}{}', {} tokens) with beam {} and outputs of up to {} "
                        "tokens would take about {:.1f} GB, over the {:.1f} GB allowed (half of the memory); "
                        "shorten it or lower --beam",
                        order[begin] + 1, sources.size(), fmt::join(shown, " "), s.size() > 20 ? " ..." : "", s.size(),
                        beam, max_length, bytes(1) / 1e9, budget / 1e9));
      }
      std::size_t n = std::min(batch_size, order.size() - begin);
      while (n > 1 && bytes(n) > budget) n /= 2;  // fewer sources at once rather than too much memory
      std::vector<std::size_t> rows(order.begin() + begin, order.begin() + begin + n);
      begin += n;
      Batch batch = make_batch(examples, rows);
      std::vector<std::vector<Hypothesis>> hyps;
      if (choice.beam <= 1 && ensemble.size() == 1) {
        for (Hypothesis& h : greedy_decode(*ensemble[0], batch.source, batch.lengths, {.max_length = max_length})) {
          hyps.push_back({std::move(h)});
        }
      } else {  // an ensemble decodes greedily as a beam of 1
        hyps = beam_search(ensemble, batch.source, batch.lengths,
                           {.beam_size = std::max<std::size_t>(1, choice.beam),
                            .length_penalty = choice.length_penalty,
                            .n_best = std::min(choice.n_best, std::max<std::size_t>(1, choice.beam)),
                            .max_length = max_length});
      }
      current_tape().reset();
      for (std::size_t i = 0; i < rows.size(); ++i) {
        Prediction& p = out[rows[i]];
        for (const Hypothesis& h : hyps[i]) {
          p.tokens.push_back(target_vocab.decode(h.tokens));
          if (choice.reversed_target) std::reverse(p.tokens.back().begin(), p.tokens.back().end());
          p.scores.push_back(choice.beam <= 1 ? h.score : h.normalized_score);
        }
        if (!hyps[i].empty()) p.attention = hyps[i][0].attention;
        if (choice.reversed_target) {
          // One row per written token, then EOS's: the tokens' rows follow them back in order.
          const std::size_t written = p.tokens.empty() ? 0 : std::min(p.tokens[0].size(), p.attention.size());
          std::reverse(p.attention.begin(), p.attention.begin() + static_cast<std::ptrdiff_t>(written));
        }
      }
    }
  } catch (...) {
    restore();
    throw;
  }
  restore();
  return out;
}

namespace {

/// One (source, candidate) pair to score.
struct Candidate {
  std::size_t source;
  std::vector<std::int64_t> ids;  ///< in written order (left to right)
};

/// Each candidate's log-probability under `model`, in batches of sources of similar length.
std::vector<double> forced_scores(const DecodingModel& model, bool reversed, const std::vector<Candidate>& candidates,
                                  const std::vector<std::vector<std::int64_t>>& sources, std::size_t batch_size) {
  std::vector<std::size_t> order(candidates.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    return sources[candidates[a].source].size() > sources[candidates[b].source].size();
  });
  std::vector<Example> examples;
  for (const Candidate& c : candidates) examples.push_back({sources[c.source], {}});
  std::vector<double> out(candidates.size());
  for (std::size_t begin = 0; begin < order.size(); begin += batch_size) {
    std::vector<std::size_t> rows(order.begin() + begin, order.begin() + std::min(order.size(), begin + batch_size));
    Batch batch = make_batch(examples, rows);
    std::vector<std::vector<std::int64_t>> targets;
    for (std::size_t r : rows) {
      targets.push_back(candidates[r].ids);
      if (reversed) std::reverse(targets.back().begin(), targets.back().end());
    }
    std::vector<double> scores = score_targets(model, batch.source, batch.lengths, targets);
    current_tape().reset();
    for (std::size_t i = 0; i < rows.size(); ++i) out[rows[i]] = scores[i];
  }
  return out;
}

}  // namespace

std::vector<Prediction> rescore_all(std::span<const DecodingGroup> groups, const std::vector<Tokens>& sources,
                                    const Vocab& source_vocab, const Vocab& target_vocab, const DecodeChoice& choice) {
  if (groups.empty()) throw Error("rescore: no models");
  // Every group's n-best, put in left-to-right order, pooled per source without repeats.
  DecodeChoice propose = choice;
  propose.beam = std::max<std::size_t>(1, choice.beam);
  propose.n_best = propose.beam;
  std::vector<std::vector<Tokens>> pooled(sources.size());
  for (const DecodingGroup& g : groups) {
    propose.reversed_target = g.reversed_target;
    std::vector<Prediction> p = decode_all(g.models, sources, source_vocab, target_vocab, propose);
    for (std::size_t i = 0; i < sources.size(); ++i) {
      for (Tokens& t : p[i].tokens) {
        if (std::find(pooled[i].begin(), pooled[i].end(), t) == pooled[i].end()) pooled[i].push_back(std::move(t));
      }
    }
  }
  std::vector<std::vector<std::int64_t>> source_ids;
  for (const Tokens& s : sources) source_ids.push_back(source_vocab.encode(s));
  std::vector<Candidate> candidates;
  for (std::size_t i = 0; i < sources.size(); ++i) {
    for (const Tokens& t : pooled[i]) candidates.push_back({i, target_vocab.encode(t)});
  }
  // The mean over every model of its log-probability of each candidate.
  std::vector<double> total(candidates.size(), 0.0);
  std::size_t models = 0;
  for (const DecodingGroup& g : groups) {
    for (DecodingModel* m : g.models) {
      const bool was_training = m->is_training();
      m->eval();
      std::vector<double> s;
      try {
        s = forced_scores(*m, g.reversed_target, candidates, source_ids, std::max<std::size_t>(1, choice.batch_size));
      } catch (...) {
        m->train(was_training);
        throw;
      }
      m->train(was_training);
      for (std::size_t c = 0; c < candidates.size(); ++c) total[c] += s[c];
      ++models;
    }
  }
  // Per source: (score, index into pooled[i]), the candidates in pooled order.
  std::vector<std::vector<std::pair<double, std::size_t>>> ranked(sources.size());
  for (std::size_t c = 0; c < candidates.size(); ++c) {
    // + 1 for the EOS that every score counts.
    const double lp = length_penalty(candidates[c].ids.size() + 1, choice.length_penalty);
    std::vector<std::pair<double, std::size_t>>& r = ranked[candidates[c].source];
    r.push_back({total[c] / double(models) / lp, r.size()});
  }
  std::vector<Prediction> out(sources.size());
  for (std::size_t i = 0; i < sources.size(); ++i) {
    std::vector<std::pair<double, std::size_t>>& r = ranked[i];
    // Best first; ties keep the pooled order (the first group's ranking first).
    std::stable_sort(r.begin(), r.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
    for (std::size_t k = 0; k < r.size() && k < std::max<std::size_t>(1, choice.n_best); ++k) {
      out[i].tokens.push_back(pooled[i][r[k].second]);
      out[i].scores.push_back(r[k].first);
    }
  }
  return out;
}

std::vector<Prediction> decode_groups(std::span<const DecodingGroup> groups, const std::vector<Tokens>& sources,
                                      const Vocab& source_vocab, const Vocab& target_vocab,
                                      const DecodeChoice& choice) {
  if (groups.size() == 1) return decode_all(groups[0].models, sources, source_vocab, target_vocab, choice);
  return rescore_all(groups, sources, source_vocab, target_vocab, choice);
}

std::string metric_for(const std::string& metric, const std::string& task) {
  if (metric != "auto") return metric;
  return task == "g2p" ? "wer" : "bleu";
}

std::string Scores::line(const std::string& split, const std::string& metric) const {
  if (metric == "wer") return fmt::format("{}: WER {:.2f}% PER {:.2f}% ({} words)", split, wer, per, items);
  return fmt::format("{}: BLEU {:.2f} ROUGE-1 {:.2f} ROUGE-2 {:.2f} ROUGE-L {:.2f} ({} sentences)", split, bleu, rouge1,
                     rouge2, rouge_l, items);
}

Scores evaluate(DecodingModel& model, const std::vector<Item>& items, const Vocab& source_vocab,
                const Vocab& target_vocab, const DecodeChoice& choice, const std::string& metric,
                std::vector<Prediction>* predictions) {
  DecodingModel* one[] = {&model};
  return evaluate(std::span<DecodingModel* const>(one), items, source_vocab, target_vocab, choice, metric, predictions);
}

Scores evaluate(std::span<DecodingModel* const> models, const std::vector<Item>& items, const Vocab& source_vocab,
                const Vocab& target_vocab, const DecodeChoice& choice, const std::string& metric,
                std::vector<Prediction>* predictions) {
  std::vector<Tokens> sources;
  for (const Item& item : items) sources.push_back(item.source);
  std::vector<Prediction> decoded = decode_all(models, sources, source_vocab, target_vocab, choice);
  Scores s = score_predictions(items, decoded, metric);
  if (predictions) *predictions = std::move(decoded);
  return s;
}

Scores score_predictions(const std::vector<Item>& items, const std::vector<Prediction>& decoded,
                         const std::string& metric) {
  if (decoded.size() != items.size()) {
    throw Error(fmt::format("score_predictions: {} predictions for {} items", decoded.size(), items.size()));
  }
  Scores s;
  s.items = items.size();
  std::vector<Tokens> best;
  std::vector<std::vector<Tokens>> references;
  for (std::size_t i = 0; i < items.size(); ++i) {
    best.push_back(decoded[i].tokens.empty() ? Tokens{} : decoded[i].tokens[0]);
    references.push_back(items[i].references);
  }
  if (metric == "wer") {
    G2PScore g = score_g2p(best, references);
    s.wer = 100 * g.wer();
    s.per = 100 * g.per();
  } else {
    s.bleu = 100 * corpus_bleu(references, best).score;
    std::vector<Tokens> first;
    for (const Item& item : items) first.push_back(item.references[0]);
    RougeSummary r = corpus_rouge(best, first);
    s.rouge1 = 100 * r.rouge1.f1;
    s.rouge2 = 100 * r.rouge2.f1;
    s.rouge_l = 100 * r.rouge_l.f1;
  }
  return s;
}

}  // namespace tg
