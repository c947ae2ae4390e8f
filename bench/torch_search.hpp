#pragma once
// Greedy decoding and beam search in LibTorch over any model, written to follow tapegrad's
// (models/decode.hpp), so that both engines write the same best outputs. The model is two
// callables over its own state of `rows` decoder rows:
//   step(tokens [rows] int64) -> log-probabilities [rows, V] of the next token, the state
//                                advanced by those tokens;
//   reorder(order [rows] int64): row r's state becomes that of row order[r] (beam search).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include <torch/torch.h>

namespace bench {

constexpr std::int64_t kBos = 1, kEos = 2;
constexpr double kLengthPenalty = 0.6;  // GNMT's alpha in beam search, as SPEC.md's decoding

// Each sentence's best output, EOS excluded.
using Tokens = std::vector<std::vector<std::int64_t>>;

// The most likely token at each step until every sentence has written EOS or max_length tokens.
template <class Step>
Tokens torch_greedy_search(long batch, long max_length, Step&& step) {
  torch::NoGradGuard no_grad;
  torch::Tensor tokens = torch::full({batch}, kBos, torch::kLong);
  Tokens out(static_cast<std::size_t>(batch));
  std::vector<bool> done(static_cast<std::size_t>(batch), false);
  for (long t = 0; t < max_length; ++t) {
    tokens = step(tokens).argmax(1);
    const auto next = tokens.accessor<std::int64_t, 1>();
    bool all = true;
    for (long b = 0; b < batch; ++b) {
      if (done[b]) continue;
      if (next[b] == kEos)
        done[b] = true;
      else
        out[b].push_back(next[b]);
      all = all && done[b];
    }
    if (all) break;
  }
  return out;
}

// Beam search of `batch` sentences with `beam` rows each (B*K rows, sentence b's at b*K ..):
// only beam 0 alive at first, the 2K best extensions of each sentence ranked, EOS among the
// first K ends a hypothesis, GNMT's length penalty ranks the finished ones. Returns the best
// per sentence.
template <class Step, class Reorder>
Tokens torch_beam_search(long batch, long beam, long max_length, double alpha, Step&& step, Reorder&& reorder) {
  torch::NoGradGuard no_grad;
  const long rows = batch * beam;
  const double minus_inf = -std::numeric_limits<double>::infinity();
  std::vector<double> scores(static_cast<std::size_t>(rows), minus_inf);
  for (long b = 0; b < batch; ++b) scores[b * beam] = 0;
  torch::Tensor tokens = torch::full({rows}, kBos, torch::kLong);
  std::vector<std::vector<std::int64_t>> history_token, history_parent;
  struct Finished {
    double normalized;
    std::vector<std::int64_t> tokens;
  };
  std::vector<std::vector<Finished>> finished(static_cast<std::size_t>(batch));
  std::vector<bool> done(static_cast<std::size_t>(batch), false);
  auto build = [&](long parent, std::size_t t, std::int64_t v, double score, bool with_last) {
    std::vector<std::int64_t> seq;
    if (with_last) seq.push_back(v);
    long r = parent;
    for (std::size_t u = t; u-- > 0;) {
      seq.push_back(history_token[u][r]);
      r = history_parent[u][r];
    }
    std::reverse(seq.begin(), seq.end());
    const double penalty = std::pow((5.0 + double(seq.size() + (with_last ? 0 : 1))) / 6.0, alpha);
    return Finished{score / penalty, seq};
  };
  for (long t = 0; t < max_length; ++t) {
    const torch::Tensor log_probs = step(tokens);
    const long vocab = log_probs.size(1);
    torch::Tensor total =
        (log_probs.to(torch::kDouble) + torch::tensor(scores, torch::kDouble).unsqueeze(1)).view({batch, beam * vocab});
    auto [top_values, top_flat] = total.topk(2 * beam, 1);
    const auto value = top_values.accessor<double, 2>();
    const auto flat = top_flat.accessor<std::int64_t, 2>();
    std::vector<std::int64_t> parent(static_cast<std::size_t>(rows)), next(static_cast<std::size_t>(rows), kEos);
    std::vector<double> next_scores(static_cast<std::size_t>(rows), minus_inf);
    for (long r = 0; r < rows; ++r) parent[r] = r;
    const bool last = t + 1 == max_length;
    for (long b = 0; b < batch; ++b) {
      if (done[b]) continue;
      long alive = 0;
      for (long i = 0; i < 2 * beam; ++i) {
        const double score = value[b][i];
        if (score == minus_inf) break;
        const long from = b * beam + flat[b][i] / vocab;
        const std::int64_t v = flat[b][i] % vocab;
        if (v == kEos) {
          if (i < beam) finished[b].push_back(build(from, std::size_t(t), v, score, false));
        } else if (alive < beam) {
          const long slot = b * beam + alive++;
          parent[slot] = from;
          next[slot] = v;
          next_scores[slot] = score;
        }
      }
      if (long(finished[b].size()) >= beam || alive == 0) {
        done[b] = true;
      } else if (last) {
        for (long i = 0; i < alive; ++i) {
          const long slot = b * beam + i;
          finished[b].push_back(build(parent[slot], std::size_t(t), next[slot], next_scores[slot], true));
        }
        done[b] = true;
      }
    }
    history_token.push_back(next);
    history_parent.push_back(parent);
    if (std::all_of(done.begin(), done.end(), [](bool d) { return d; })) break;
    reorder(torch::tensor(parent, torch::kLong));
    tokens = torch::tensor(next, torch::kLong);
    scores = std::move(next_scores);
  }
  Tokens best;
  for (std::vector<Finished>& list : finished) {
    std::stable_sort(list.begin(), list.end(),
                     [](const Finished& a, const Finished& b) { return a.normalized > b.normalized; });
    best.push_back(list.empty() ? std::vector<std::int64_t>{} : list[0].tokens);
  }
  return best;
}

}  // namespace bench
