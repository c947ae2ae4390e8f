#include <doctest/doctest.h>

#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include <xtensor/xview.hpp>

#include "tapegrad/autodiff/mode.hpp"
#include "tapegrad/models/decode.hpp"
#include "tapegrad/ops/softmax.hpp"

using namespace tg;

namespace {

// Tokens: 0 pad, 1 BOS, 2 EOS, 3.. real.
Seq2SeqOptions small(RecurrentKind cell, AttentionKind kind) {
  Seq2SeqOptions o;
  o.source_vocab_size = 9;
  o.target_vocab_size = 7;
  o.embedding_size = 4;
  o.hidden_size = 5;
  o.cell = cell;
  o.attention.kind = kind;
  o.attention.num_heads = 1;
  return o;
}

std::unique_ptr<Seq2Seq> f64_model(const Seq2SeqOptions& o, std::uint64_t seed) {
  Generator gen(seed);
  Seq2Seq m(o, gen);
  m.eval();
  return copy_as(m, DType::f64);
}

// Three sentences of lengths 5, 2 and 3, padded to 5.
const Indices kSource{{3, 4, 5, 6, 7}, {8, 3, 0, 0, 0}, {5, 5, 4, 0, 0}};
const std::vector<std::int64_t> kLengths{5, 2, 3};

/// Row b of kSource cut to its own length, as a batch of one.
Indices alone(std::size_t b) { return Indices(xt::view(kSource, xt::range(b, b + 1), xt::range(0, kLengths[b]))); }

/// The model's log-probability of `tokens` after BOS, step by step through decode_step.
double sequence_score(const Seq2Seq& m, const Indices& source, const std::vector<std::int64_t>& tokens) {
  NoGradGuard no_grad;
  EncoderState enc = m.encode(source);
  DecoderState state = enc.initial;
  std::int64_t previous = m.options().bos_id;
  double score = 0.0;
  for (std::int64_t token : tokens) {
    DecoderStep step = m.decode_step(enc.memory, Indices{previous}, state);
    score += log_softmax(step.logits, -1).value().at(static_cast<std::size_t>(token));
    state = step.state;
    previous = token;
  }
  return score;
}

void check_same_hypothesis(const Hypothesis& a, const Hypothesis& b) {
  CHECK(a.tokens == b.tokens);
  CHECK(a.finished == b.finished);
  CHECK(a.score == doctest::Approx(b.score).epsilon(1e-9));
  CHECK(a.normalized_score == doctest::Approx(b.normalized_score).epsilon(1e-9));
  REQUIRE(a.attention.size() == b.attention.size());
  for (std::size_t t = 0; t < a.attention.size(); ++t) {
    REQUIRE(a.attention[t].size() == b.attention[t].size());
    for (std::size_t s = 0; s < a.attention[t].size(); ++s) {
      CHECK(a.attention[t][s] == doctest::Approx(b.attention[t][s]).epsilon(1e-9));
    }
  }
}

/// A model whose next-token distribution depends only on the previous token, as `table` says
/// (rows: previous token; columns: next token; probabilities). The decoder cell copies the
/// embedded previous token into its state (i, o gates open, f shut, g = tanh(10 one_hot)) and the
/// output layer reads log(table) off it; attention and the encoder do not matter.
std::unique_ptr<Seq2Seq> bigram_model(const std::vector<std::vector<double>>& table) {
  const std::size_t v = table.size();
  auto m = f64_model(Seq2SeqOptions::reference(v, v, v), 1);
  StateDict state = m->state_dict();
  auto set = [&](const std::string& name, const std::function<double(std::size_t, std::size_t)>& value) {
    for (NamedTensor& entry : state) {
      if (entry.name != name) continue;
      const std::size_t rows = entry.value.shape()[0], cols = entry.value.dim() == 2 ? entry.value.shape()[1] : 1;
      for (std::size_t r = 0; r < rows; ++r) {
        for (std::size_t c = 0; c < cols; ++c) entry.value.set(r * cols + c, value(r, c));
      }
      return;
    }
    FAIL("no parameter " << name);
  };
  set("decoder.embedding.weight", [](std::size_t r, std::size_t c) { return r == c ? 10.0 : 0.0; });
  // Gate rows: [0, v) input, [v, 2v) forget, [2v, 3v) cell candidate, [3v, 4v) output.
  set("decoder.cells.0.weight_ih",
      [&](std::size_t r, std::size_t c) { return r >= 2 * v && r < 3 * v && c == r - 2 * v ? 1.0 : 0.0; });
  set("decoder.cells.0.weight_hh", [](std::size_t, std::size_t) { return 0.0; });
  set("decoder.cells.0.bias_ih", [&](std::size_t r, std::size_t) {
    return r < v ? 20.0 : r < 2 * v ? -20.0 : r < 3 * v ? 0.0 : 20.0;
  });
  set("decoder.cells.0.bias_hh", [](std::size_t, std::size_t) { return 0.0; });
  // h = tanh(1) one_hot(previous); the context's columns are 0.
  set("decoder.output.weight",
      [&](std::size_t r, std::size_t c) { return c < v ? std::log(table[c][r]) / std::tanh(1.0) : 0.0; });
  set("decoder.output.bias", [](std::size_t, std::size_t) { return 0.0; });
  m->load_state_dict(state);
  return m;
}

/// Rows normalised to sum to 1.
std::vector<std::vector<double>> normalised(std::vector<std::vector<double>> table) {
  for (auto& row : table) {
    double total = 0;
    for (double p : row) total += p;
    for (double& p : row) p /= total;
  }
  return table;
}

}  // namespace

TEST_CASE("decode: greedy picks each step's argmax; its score is the model's log-probability") {
  auto m = f64_model(small(RecurrentKind::lstm, AttentionKind::additive), 1);
  std::vector<Hypothesis> out = greedy_decode(*m, kSource, kLengths, {.max_length = 6});
  REQUIRE(out.size() == 3);
  for (std::size_t b = 0; b < 3; ++b) {
    const Hypothesis& h = out[b];
    REQUIRE(!h.tokens.empty());
    CHECK(h.tokens.size() <= 6);
    CHECK(h.finished == (h.tokens.back() == 2));
    CHECK(h.score == doctest::Approx(sequence_score(*m, alone(b), h.tokens)).epsilon(1e-9));
    CHECK(h.normalized_score == h.score);
    // One attention row per token, over the sentence's own length, summing to 1.
    REQUIRE(h.attention.size() == h.tokens.size());
    for (const auto& row : h.attention) {
      CHECK(row.size() == static_cast<std::size_t>(kLengths[b]));
      double total = 0;
      for (double w : row) total += w;
      CHECK(total == doctest::Approx(1.0));
    }
    // Each token is the argmax given the tokens before it.
    for (std::size_t t = 0; t < h.tokens.size(); ++t) {
      std::vector<std::int64_t> prefix(h.tokens.begin(), h.tokens.begin() + static_cast<std::ptrdiff_t>(t));
      const double base = sequence_score(*m, alone(b), prefix);
      std::vector<std::int64_t> longer = prefix;
      longer.push_back(h.tokens[t]);
      const double chosen = sequence_score(*m, alone(b), longer) - base;
      for (std::int64_t v = 0; v < 7; ++v) {
        longer.back() = v;
        CHECK(sequence_score(*m, alone(b), longer) - base <= chosen + 1e-12);
      }
    }
  }
}

TEST_CASE("decode: a float32 model's hypotheses carry its attention, row by row as the float64 copy's") {
  // Decoding reads the attention in the model's dtype; the rows must be the same
  // weights as the float64 copy of the model computes, to float precision.
  Generator gen(3);
  Seq2Seq m32(small(RecurrentKind::lstm, AttentionKind::additive), gen);
  m32.eval();
  auto m64 = copy_as(m32, DType::f64);
  const BeamSearchOptions beam{.beam_size = 3, .n_best = 1, .max_length = 6};
  const std::vector<std::vector<Hypothesis>> b32 = beam_search(m32, kSource, kLengths, beam);
  const std::vector<std::vector<Hypothesis>> b64 = beam_search(*m64, kSource, kLengths, beam);
  const std::vector<Hypothesis> g32 = greedy_decode(m32, kSource, kLengths, {.max_length = 6});
  const std::vector<Hypothesis> g64 = greedy_decode(*m64, kSource, kLengths, {.max_length = 6});
  for (std::size_t b = 0; b < 3; ++b) {
    for (const auto& [a, c] : {std::pair(&b32[b][0], &b64[b][0]), std::pair(&g32[b], &g64[b])}) {
      REQUIRE(a->tokens == c->tokens);
      REQUIRE(a->attention.size() == c->attention.size());
      for (std::size_t t = 0; t < a->attention.size(); ++t) {
        REQUIRE(a->attention[t].size() == static_cast<std::size_t>(kLengths[b]));
        REQUIRE(c->attention[t].size() == a->attention[t].size());
        for (std::size_t s = 0; s < a->attention[t].size(); ++s) {
          CHECK(a->attention[t][s] == doctest::Approx(c->attention[t][s]).epsilon(1e-5));
        }
      }
    }
  }
}

TEST_CASE("decode: beam size 1 equals greedy; top-k 1 and a tiny top-p equal greedy") {
  for (RecurrentKind cell : {RecurrentKind::lstm, RecurrentKind::gru}) {
    for (AttentionKind kind : {AttentionKind::additive, AttentionKind::general, AttentionKind::multi_head}) {
      INFO(std::string(attention_kind_name(kind)));
      auto m = f64_model(small(cell, kind), 2);
      std::vector<Hypothesis> greedy = greedy_decode(*m, kSource, kLengths, {.max_length = 7});
      std::vector<std::vector<Hypothesis>> beam =
          beam_search(*m, kSource, kLengths, {.beam_size = 1, .length_penalty = 0.0, .n_best = 1, .max_length = 7});
      Generator gen(5);
      std::vector<Hypothesis> top_k =
          sample(*m, kSource, gen, kLengths, {.temperature = 0.7, .top_k = 1, .max_length = 7});
      std::vector<Hypothesis> top_p = sample(*m, kSource, gen, kLengths, {.top_p = 1e-9, .max_length = 7});
      REQUIRE(beam.size() == 3);
      for (std::size_t b = 0; b < 3; ++b) {
        REQUIRE(beam[b].size() == 1);
        check_same_hypothesis(beam[b][0], greedy[b]);
        check_same_hypothesis(top_k[b], greedy[b]);
        check_same_hypothesis(top_p[b], greedy[b]);
      }
    }
  }
}

TEST_CASE("decode: beam search finds the best sequence where greedy does not") {
  // 0 pad, 1 BOS, 2 EOS, 3 a, 4 b. Greedy takes a (0.55) and then ends with 0.35 (total 0.19);
  // b (0.45) then EOS (0.95) totals 0.43.
  const double tiny = 1e-4;
  auto table = normalised({{tiny, tiny, 0.4, 0.3, 0.3},
                           {tiny, tiny, tiny, 0.55, 0.45},
                           {tiny, tiny, 0.4, 0.3, 0.3},
                           {tiny, tiny, 0.35, 0.33, 0.32},
                           {tiny, tiny, 0.95, 0.025, 0.025}});
  auto m = bigram_model(table);
  const Indices source{{3, 4, 3}};
  // The model reproduces the table.
  CHECK(sequence_score(*m, source, {3, 2}) == doctest::Approx(std::log(table[1][3] * table[3][2])).epsilon(1e-6));

  std::vector<Hypothesis> greedy = greedy_decode(*m, source, {}, {.max_length = 5});
  CHECK(greedy[0].tokens == std::vector<std::int64_t>{3, 2});

  // Exhaustive: the best sequence over {EOS, a, b} of up to 4 tokens ending in EOS.
  std::vector<std::int64_t> best;
  double best_score = -1e300;
  std::function<void(std::vector<std::int64_t>)> visit = [&](std::vector<std::int64_t> prefix) {
    if (prefix.size() == 4) return;
    for (std::int64_t v : {2, 3, 4}) {
      std::vector<std::int64_t> next = prefix;
      next.push_back(v);
      if (v == 2) {
        const double score = sequence_score(*m, source, next);
        if (score > best_score) {
          best_score = score;
          best = next;
        }
      } else {
        visit(next);
      }
    }
  };
  visit({});
  CHECK(best == std::vector<std::int64_t>{4, 2});
  CHECK(greedy[0].score < best_score - 0.5);

  for (double alpha : {0.0, 0.6}) {
    std::vector<std::vector<Hypothesis>> beam =
        beam_search(*m, source, {}, {.beam_size = 2, .length_penalty = alpha, .n_best = 2, .max_length = 5});
    REQUIRE(beam[0].size() == 2);
    CHECK(beam[0][0].tokens == best);
    CHECK(beam[0][0].score == doctest::Approx(best_score).epsilon(1e-9));
    CHECK(beam[0][0].finished);
    CHECK(beam[0][1].tokens == greedy[0].tokens);  // the runner-up is greedy's
  }
}

TEST_CASE("decode: a batch decodes as each sentence alone, padding and all") {
  for (AttentionKind kind : {AttentionKind::additive, AttentionKind::multi_head}) {
    Seq2SeqOptions o = small(RecurrentKind::lstm, kind);
    o.bidirectional = true;
    o.encoder_layers = 2;
    auto m = f64_model(o, 3);
    const BeamSearchOptions beam{.beam_size = 3, .length_penalty = 0.6, .n_best = 3, .max_length = 6};
    std::vector<Hypothesis> greedy = greedy_decode(*m, kSource, kLengths, {.max_length = 6});
    std::vector<std::vector<Hypothesis>> beams = beam_search(*m, kSource, kLengths, beam);
    for (std::size_t b = 0; b < 3; ++b) {
      check_same_hypothesis(greedy[b], greedy_decode(*m, alone(b), {}, {.max_length = 6})[0]);
      std::vector<Hypothesis> single = beam_search(*m, alone(b), {}, beam)[0];
      REQUIRE(single.size() == beams[b].size());
      for (std::size_t i = 0; i < single.size(); ++i) check_same_hypothesis(beams[b][i], single[i]);
    }
  }
}

TEST_CASE("decode: beam search n-best lists are sorted, distinct, scored and within max_length") {
  auto m = f64_model(small(RecurrentKind::gru, AttentionKind::additive), 4);
  for (std::size_t max_length : {1, 3, 8}) {
    const BeamSearchOptions options{.beam_size = 4, .length_penalty = 0.6, .n_best = 4, .max_length = max_length};
    std::vector<std::vector<Hypothesis>> beams = beam_search(*m, kSource, kLengths, options);
    for (std::size_t b = 0; b < 3; ++b) {
      const auto& list = beams[b];
      REQUIRE(list.size() == 4);
      for (std::size_t i = 0; i < list.size(); ++i) {
        const Hypothesis& h = list[i];
        CHECK(h.tokens.size() <= max_length);
        CHECK(h.attention.size() == h.tokens.size());
        CHECK(h.finished == (h.tokens.back() == 2));
        CHECK(h.score == doctest::Approx(sequence_score(*m, alone(b), h.tokens)).epsilon(1e-9));
        CHECK(h.normalized_score == doctest::Approx(h.score / length_penalty(h.tokens.size(), 0.6)));
        if (i > 0) CHECK(list[i - 1].normalized_score >= list[i].normalized_score);
        for (std::size_t j = 0; j < i; ++j) CHECK(list[j].tokens != h.tokens);
      }
    }
  }
  std::vector<Hypothesis> greedy = greedy_decode(*m, kSource, kLengths, {.max_length = 2});
  for (const Hypothesis& h : greedy) CHECK(h.tokens.size() <= 2);
  Generator gen(1);
  for (const Hypothesis& h : sample(*m, kSource, gen, kLengths, {.max_length = 3})) CHECK(h.tokens.size() <= 3);
}

TEST_CASE("decode: score_targets gives each target's log-probability, EOS included, as decoding scores it") {
  for (AttentionKind kind : {AttentionKind::general, AttentionKind::additive}) {
    auto m = f64_model(small(RecurrentKind::lstm, kind), 6);
    const BeamSearchOptions options{.beam_size = 4, .length_penalty = 0.6, .n_best = 4, .max_length = 12};
    std::vector<std::vector<Hypothesis>> beams = beam_search(*m, kSource, kLengths, options);
    // Hypothesis k of every sentence at once: targets of different lengths in one batch.
    for (std::size_t k = 0; k < 4; ++k) {
      std::vector<std::vector<std::int64_t>> targets;
      for (std::size_t b = 0; b < 3; ++b) {
        const Hypothesis& h = beams[b][k];
        targets.emplace_back(h.tokens.begin(), h.tokens.end() - (h.finished ? 1 : 0));  // without its EOS
      }
      std::vector<double> scores = score_targets(*m, kSource, kLengths, targets);
      REQUIRE(scores.size() == 3);
      for (std::size_t b = 0; b < 3; ++b) {
        const Hypothesis& h = beams[b][k];
        if (h.finished) CHECK(scores[b] == doctest::Approx(h.score).epsilon(1e-9));
        // Finished or cut by max_length, the target is scored with an EOS after it.
        std::vector<std::int64_t> with_eos = targets[b];
        with_eos.push_back(2);
        CHECK(scores[b] == doctest::Approx(sequence_score(*m, alone(b), with_eos)).epsilon(1e-9));
      }
    }
    // Any sequence, not only what a decoder found: here "5 5 3" then EOS for every sentence.
    std::vector<double> same = score_targets(*m, kSource, kLengths, {{5, 5, 3}, {5, 5, 3}, {5, 5, 3}});
    for (std::size_t b = 0; b < 3; ++b) {
      CHECK(same[b] == doctest::Approx(sequence_score(*m, alone(b), {5, 5, 3, 2})).epsilon(1e-9));
    }
    // The empty target: log p(EOS) at the first step.
    CHECK(score_targets(*m, alone(1), {}, {{}})[0] == doctest::Approx(sequence_score(*m, alone(1), {2})).epsilon(1e-9));
  }
  auto m = f64_model(small(RecurrentKind::gru, AttentionKind::dot), 2);
  CHECK_THROWS_AS(score_targets(*m, kSource, kLengths, {{3}, {4}}), ShapeError);
  CHECK_THROWS_WITH_AS(score_targets(*m, kSource, kLengths, {{3}, {4, 7}, {5}}),
                       doctest::Contains("target 1 holds token 7, outside [0, 7)"), IndexError);
}

TEST_CASE("decode: sampling is reproducible per seed and follows top-k") {
  auto m = f64_model(small(RecurrentKind::lstm, AttentionKind::dot), 5);
  const SamplingOptions options{.temperature = 2.0, .max_length = 10};
  auto tokens = [&](std::uint64_t seed, const SamplingOptions& o) {
    Generator gen(seed);
    std::vector<std::vector<std::int64_t>> out;
    for (const Hypothesis& h : sample(*m, kSource, gen, kLengths, o)) out.push_back(h.tokens);
    return out;
  };
  CHECK(tokens(7, options) == tokens(7, options));
  CHECK(tokens(7, options) != tokens(8, options));
  // Top-2: every sampled token is one of the two most likely at its step.
  Generator gen(9);
  SamplingOptions top2 = options;
  top2.top_k = 2;
  std::vector<Hypothesis> samples = sample(*m, kSource, gen, kLengths, top2);
  for (std::size_t b = 0; b < 3; ++b) {
    const Hypothesis& h = samples[b];
    CHECK(h.score == doctest::Approx(sequence_score(*m, alone(b), h.tokens)).epsilon(1e-9));
    for (std::size_t t = 0; t < h.tokens.size(); ++t) {
      std::vector<std::int64_t> prefix(h.tokens.begin(), h.tokens.begin() + static_cast<std::ptrdiff_t>(t));
      const double base = sequence_score(*m, alone(b), prefix);
      std::vector<std::int64_t> longer = prefix;
      longer.push_back(h.tokens[t]);
      const double chosen = sequence_score(*m, alone(b), longer) - base;
      int better = 0;
      for (std::int64_t v = 0; v < 7; ++v) {
        longer.back() = v;
        if (sequence_score(*m, alone(b), longer) - base > chosen) ++better;
      }
      CHECK(better <= 1);
    }
  }
}

TEST_CASE("decode: bad options throw") {
  auto m = f64_model(small(RecurrentKind::lstm, AttentionKind::additive), 6);
  Generator gen(1);
  CHECK_THROWS_AS(beam_search(*m, kSource, kLengths, {.beam_size = 0}), Error);
  CHECK_THROWS_AS(beam_search(*m, kSource, kLengths, {.beam_size = 2, .n_best = 3}), Error);
  CHECK_THROWS_AS(greedy_decode(*m, kSource, kLengths, {.max_length = 0}), Error);
  CHECK_THROWS_AS(sample(*m, kSource, gen, kLengths, {.temperature = 0.0}), Error);
  CHECK_THROWS_AS(sample(*m, kSource, gen, kLengths, {.top_p = 0.0}), Error);
  CHECK_THROWS_AS(greedy_decode(*m, Indices{1, 2, 3}), ShapeError);
}

TEST_CASE("decode: an ensemble scores with the mean of its models' log-probabilities") {
  auto m1 = f64_model(small(RecurrentKind::lstm, AttentionKind::general), 11);
  auto m2 = f64_model(small(RecurrentKind::gru, AttentionKind::additive), 12);
  const BeamSearchOptions options{.beam_size = 3, .length_penalty = 0.6, .n_best = 3, .max_length = 6};

  // A model with itself is that model alone: (a + a) / 2 == a exactly.
  const Seq2Seq* twice[] = {m1.get(), m1.get()};
  std::vector<std::vector<Hypothesis>> alone_beams = beam_search(*m1, kSource, kLengths, options);
  std::vector<std::vector<Hypothesis>> twice_beams =
      beam_search(std::span<const Seq2Seq* const>(twice), kSource, kLengths, options);
  REQUIRE(twice_beams.size() == alone_beams.size());
  for (std::size_t b = 0; b < alone_beams.size(); ++b) {
    REQUIRE(twice_beams[b].size() == alone_beams[b].size());
    for (std::size_t i = 0; i < alone_beams[b].size(); ++i) {
      CHECK(twice_beams[b][i].tokens == alone_beams[b][i].tokens);
      CHECK(twice_beams[b][i].score == alone_beams[b][i].score);
    }
  }

  // Two different models: each hypothesis's score is the mean of the two models' scores of it.
  const Seq2Seq* pair[] = {m1.get(), m2.get()};
  std::vector<std::vector<Hypothesis>> beams =
      beam_search(std::span<const Seq2Seq* const>(pair), kSource, kLengths, options);
  for (std::size_t b = 0; b < 3; ++b) {
    REQUIRE(beams[b].size() == 3);
    for (std::size_t i = 0; i < beams[b].size(); ++i) {
      const Hypothesis& h = beams[b][i];
      const double mean = (sequence_score(*m1, alone(b), h.tokens) + sequence_score(*m2, alone(b), h.tokens)) / 2;
      CHECK(h.score == doctest::Approx(mean).epsilon(1e-9));
      CHECK(h.attention.size() == h.tokens.size());
      if (i > 0) CHECK(beams[b][i - 1].normalized_score >= h.normalized_score);
    }
  }

  // Models that do not share the vocabularies are refused, naming both.
  Seq2SeqOptions other = small(RecurrentKind::lstm, AttentionKind::general);
  other.target_vocab_size = 8;
  auto m3 = f64_model(other, 13);
  const Seq2Seq* mismatched[] = {m1.get(), m3.get()};
  CHECK_THROWS_WITH_AS(beam_search(std::span<const Seq2Seq* const>(mismatched), kSource, kLengths, options),
                       doctest::Contains("ensemble model 1 has vocabularies 9 -> 8"), Error);
}

TEST_CASE("decode: Seq2Seq's DecodingModel state follows reorder, within and across sentences") {
  auto m = f64_model(small(RecurrentKind::lstm, AttentionKind::general), 21);
  NoGradGuard no_grad;
  const DecodingModel& model = *m;
  const Indices bos{1, 1, 1};
  // The reference: three rows stepped twice in batch order.
  std::unique_ptr<DecodingState> plain = model.start_decoding(kSource, kLengths);
  CHECK(plain->source_lengths == kLengths);
  const Tensor first = model.next_step(*plain, bos).logits.value();
  const Tensor second = model.next_step(*plain, Indices{3, 4, 5}).logits.value();
  const Tensor second_attention = model.next_step(*plain, Indices{6, 6, 6}).attention.value();

  // Rows moved across sentences before the first step and again after it: each new row is its
  // old row, memory, lengths and recurrent state together.
  std::unique_ptr<DecodingState> moved = model.start_decoding(kSource, kLengths);
  model.reorder(*moved, Indices{2, 0, 1, 0});
  CHECK(moved->source_lengths == std::vector<std::int64_t>{3, 5, 2, 5});
  const Tensor moved_first = model.next_step(*moved, Indices{1, 1, 1, 1}).logits.value();
  model.reorder(*moved, Indices{1, 2, 0});  // back to sentences 0, 1, 2
  CHECK(moved->source_lengths == kLengths);
  const Tensor moved_second = model.next_step(*moved, Indices{3, 4, 5}).logits.value();
  const Tensor moved_attention = model.next_step(*moved, Indices{6, 6, 6}).attention.value();
  // Equal up to rounding: a GEMM over 4 rows may round differently from one over 3.
  auto same = [](double a, double b) { CHECK(a == doctest::Approx(b).epsilon(1e-12)); };
  const std::size_t vocab = first.shape()[1];
  const std::size_t from[] = {2, 0, 1, 0};
  for (std::size_t r = 0; r < 4; ++r) {
    for (std::size_t v = 0; v < vocab; ++v) same(moved_first.at(r * vocab + v), first.at(from[r] * vocab + v));
  }
  for (std::size_t i = 0; i < second.size(); ++i) same(moved_second.at(i), second.at(i));
  for (std::size_t i = 0; i < second_attention.size(); ++i) same(moved_attention.at(i), second_attention.at(i));

  CHECK_THROWS_AS(model.reorder(*moved, Indices{3}), IndexError);
  struct Foreign : DecodingState {};
  Foreign foreign;
  CHECK_THROWS_WITH_AS(model.next_step(foreign, bos), doctest::Contains("not made by Seq2Seq"), Error);
}

TEST_CASE("decode: decode_memory_bytes of a model is its options' estimate, and grows with each term") {
  Seq2SeqOptions o = small(RecurrentKind::lstm, AttentionKind::general);
  Generator gen(3);
  Seq2Seq m(o, gen);
  const DecodingModel* pair[] = {&m, &m};
  CHECK(decode_memory_bytes(m, 4, 7, 5, 20) == decode_memory_bytes(o, 4, 7, 5, 20));
  CHECK(decode_memory_bytes(std::span<const DecodingModel* const>(pair), 4, 7, 5, 20) ==
        decode_memory_bytes(o, 4, 7, 5, 20, 2));
  CHECK(decode_memory_bytes(m, 4, 7, 5, 20) <
        decode_memory_bytes(std::span<const DecodingModel* const>(pair), 4, 7, 5, 20));
  CHECK(decode_memory_bytes(m, 4, 7, 5, 20) < decode_memory_bytes(m, 4, 7, 5, 21));
  CHECK(decode_memory_bytes(m, 4, 7, 5, 20) < decode_memory_bytes(m, 4, 8, 5, 20));
  CHECK(decode_memory_bytes(m, 4, 7, 1, 20) < decode_memory_bytes(m, 4, 7, 5, 20));
  // A float64 copy counts 8 bytes per value (its parameters' dtype, not its options').
  auto wide = copy_as(m, DType::f64);
  CHECK(decode_memory_bytes(*wide, 4, 7, 5, 20) > decode_memory_bytes(m, 4, 7, 5, 20));
}
