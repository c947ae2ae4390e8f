// TransformerSeq2Seq: the loss gradchecked in float64, its names, and incremental decoding
// (the key/value cache) against recomputing the whole prefix at every step.
#include <doctest/doctest.h>

#include <cmath>
#include <string>
#include <vector>

#include <xtensor/xview.hpp>

#include "ops/check.hpp"
#include "tapegrad/autodiff/mode.hpp"
#include "tapegrad/models/decode.hpp"
#include "tapegrad/models/transformer_seq2seq.hpp"
#include "tapegrad/ops/shape.hpp"
#include "tapegrad/ops/softmax.hpp"

using namespace tg;

namespace {

// Real tokens are >= 3: 0 pad, 1 BOS, 2 EOS. Source lengths 4 and 2, targets of 3 and 4 tokens.
const Indices kSource{{3, 5, 4, 6}, {6, 3, 0, 0}};
const std::vector<std::int64_t> kLengths{4, 2};
const Indices kTargetIn{{1, 4, 3, 0}, {1, 5, 5, 3}};
const Indices kTargetOut{{4, 3, 2, 0}, {5, 5, 3, 2}};

TransformerSeq2SeqOptions tiny(bool norm_first, PositionalKind positional) {
  TransformerSeq2SeqOptions o;
  o.source_vocab_size = 7;
  o.target_vocab_size = 7;
  o.transformer = {.d_model = 4,
                   .nhead = 2,
                   .num_encoder_layers = 2,
                   .num_decoder_layers = 2,
                   .dim_feedforward = 6,
                   .dropout = 0.0,
                   .norm_first = norm_first};
  o.positional = positional;
  o.max_length = 12;
  return o;
}

std::unique_ptr<TransformerSeq2Seq> model_in(const TransformerSeq2SeqOptions& o, DType dtype, std::uint64_t seed) {
  Generator gen(seed);
  TransformerSeq2Seq m(o, gen);
  m.eval();
  return copy_as(m, dtype);
}

/// The same model decoded without a cache: every step runs the teacher-forced forward() over
/// the whole prefix fed so far and keeps its last position's logits. (Its attention rows are
/// zeros: forward() does not return the weights.)
class Recompute : public DecodingModel {
 public:
  explicit Recompute(const TransformerSeq2Seq& m) : m_(m) {}

  struct State : DecodingState {
    std::vector<std::vector<std::int64_t>> source;  ///< each row's source, its own length
    std::vector<std::vector<std::int64_t>> fed;     ///< each row's tokens fed so far
  };

  DecodingVocabulary vocabulary() const override { return m_.vocabulary(); }
  std::unique_ptr<DecodingState> start_decoding(const Indices& source,
                                                const std::vector<std::int64_t>& lengths) const override {
    auto state = std::make_unique<State>();
    state->source_lengths = m_.source_lengths(source, lengths);
    for (std::size_t b = 0; b < source.shape()[0]; ++b) {
      state->source.emplace_back(source.data() + b * source.shape()[1],
                                 source.data() + b * source.shape()[1] + state->source_lengths[b]);
      state->fed.emplace_back();
    }
    return state;
  }
  DecodingStep next_step(DecodingState& state, const Indices& tokens) const override {
    State& s = dynamic_cast<State&>(state);
    const std::size_t rows = s.fed.size();
    std::size_t longest = 0;
    for (std::int64_t l : s.source_lengths) longest = std::max(longest, static_cast<std::size_t>(l));
    Indices source = Indices(std::vector<std::size_t>{rows, longest}, m_.options().pad_id);
    for (std::size_t r = 0; r < rows; ++r) {
      s.fed[r].push_back(tokens(r));
      std::copy(s.source[r].begin(), s.source[r].end(), source.data() + r * longest);
    }
    const std::size_t t = s.fed[0].size();
    Indices target_in = Indices(std::vector<std::size_t>{rows, t}, std::int64_t{});
    for (std::size_t r = 0; r < rows; ++r) std::copy(s.fed[r].begin(), s.fed[r].end(), target_in.data() + r * t);
    Var logits = m_.forward(source, s.source_lengths, target_in);
    Var last =
        reshape(slice(logits, 1, static_cast<long>(t - 1), static_cast<long>(t)), Shape{rows, logits.shape()[2]});
    return {last, Var(Tensor::zeros({rows, longest}, m_.dtype()))};
  }
  void reorder(DecodingState& state, const Indices& rows) const override {
    State& s = dynamic_cast<State&>(state);
    State picked;
    for (std::size_t r = 0; r < rows.size(); ++r) {
      const auto from = static_cast<std::size_t>(rows(r));
      picked.source_lengths.push_back(s.source_lengths[from]);
      picked.source.push_back(s.source[from]);
      picked.fed.push_back(s.fed[from]);
    }
    s = std::move(picked);
  }
  double decoding_bytes(std::size_t, std::size_t, std::size_t) const override { return 0.0; }

 private:
  const TransformerSeq2Seq& m_;
};

void check_same(const Hypothesis& cached, const Hypothesis& recomputed, double tolerance) {
  CHECK(cached.tokens == recomputed.tokens);
  CHECK(cached.finished == recomputed.finished);
  CHECK(std::abs(cached.score - recomputed.score) <= tolerance * std::max(1.0, std::abs(recomputed.score)));
  CHECK(std::abs(cached.normalized_score - recomputed.normalized_score) <=
        tolerance * std::max(1.0, std::abs(recomputed.normalized_score)));
}

}  // namespace

TEST_CASE("TransformerSeq2Seq: float64 gradcheck of the loss with padding on both sides") {
  for (bool norm_first : {false, true}) {
    for (PositionalKind positional : {PositionalKind::sinusoidal, PositionalKind::learned}) {
      CAPTURE(norm_first);
      CAPTURE(positional_kind_name(positional));
      TransformerSeq2SeqOptions o = tiny(norm_first, positional);
      if (norm_first) {  // the shared table and tied output, with label smoothing
        o.share_embeddings = true;
        o.tie_output = true;
        o.label_smoothing = 0.1;
      }
      auto m = model_in(o, DType::f64, 3);
      GradcheckReport report =
          gradcheck(*m, [&](const std::vector<Var>&) { return m->loss(kSource, kLengths, kTargetIn, kTargetOut); });
      INFO(report.message());
      CHECK(report.passed);
    }
  }
}

TEST_CASE("TransformerSeq2Seq: parameter names, sharing and tying, errors") {
  Generator gen(1);
  TransformerSeq2Seq plain(tiny(false, PositionalKind::learned), gen);
  std::vector<std::string> names;
  for (const NamedVar& p : plain.named_parameters()) names.push_back(p.name);
  CHECK(names.front() == "source_embedding.weight");
  CHECK(names[1] == "target_embedding.weight");
  CHECK(names[2] == "source_positions.weight");
  CHECK(names[3] == "target_positions.weight");
  CHECK(names[4] == "transformer.encoder.layers.0.self_attn.in_proj_weight");
  CHECK(names[names.size() - 2] == "output.weight");
  CHECK(names.back() == "output.bias");
  // Row pad_id of the tables starts at zero.
  for (std::size_t e = 0; e < 4; ++e) CHECK(plain.source_embedding.weight.value().at(e) == 0.0);

  TransformerSeq2SeqOptions o = tiny(true, PositionalKind::sinusoidal);
  o.share_embeddings = true;
  o.tie_output = true;
  TransformerSeq2Seq tied(o, gen);
  names.clear();
  for (const NamedVar& p : tied.named_parameters()) names.push_back(p.name);
  CHECK(names.front() == "output_bias");  // a module's own parameters come first, as torch's
  CHECK(names[1] == "source_embedding.weight");
  CHECK(names[2] == "transformer.encoder.layers.0.self_attn.in_proj_weight");  // no positions: sinusoidal
  CHECK(&tied.target_embedding() == &tied.source_embedding);
  CHECK(plain.parameter_count() - tied.parameter_count() == 7 * 4 + 2 * 12 * 4 + 7 * 4);

  o.target_vocab_size = 8;
  CHECK_THROWS_WITH_AS(TransformerSeq2Seq(o, gen), doctest::Contains("share_embeddings"), Error);
  o = tiny(false, PositionalKind::sinusoidal);
  o.transformer.nhead = 3;
  CHECK_THROWS_AS(TransformerSeq2Seq(o, gen), Error);
  CHECK_THROWS_AS(plain.loss(kSource, kLengths, kTargetIn, Indices{{4, 3}}), ShapeError);
  CHECK_THROWS_AS(plain.forward(kSource, {5, 1}, kTargetIn), IndexError);
}

TEST_CASE("TransformerSeq2Seq: each incremental step's logits equal the teacher-forced forward's at that position") {
  for (bool norm_first : {false, true}) {
    for (PositionalKind positional : {PositionalKind::sinusoidal, PositionalKind::learned}) {
      CAPTURE(norm_first);
      CAPTURE(positional_kind_name(positional));
      auto m = model_in(tiny(norm_first, positional), DType::f64, 5);
      NoGradGuard no_grad;
      const Tensor full = m->forward(kSource, kLengths, kTargetIn).value();  // [2, 4, 7]
      std::unique_ptr<DecodingState> state = m->start_decoding(kSource, kLengths);
      for (std::size_t t = 0; t < 4; ++t) {
        CAPTURE(t);
        DecodingStep step = m->next_step(*state, Indices{kTargetIn(0, t), kTargetIn(1, t)});
        std::vector<double> expected;
        for (std::size_t b = 0; b < 2; ++b) {
          for (std::size_t v = 0; v < 7; ++v) expected.push_back(full.at((b * 4 + t) * 7 + v));
        }
        CHECK(test::relative_gap(step.logits.value().to_vector(), expected) < 1e-12);
        // The attention rows are distributions over each sentence's own source.
        const Tensor& a = step.attention.value();
        REQUIRE(a.shape() == Shape{2, 4});
        CHECK(a.at(0) + a.at(1) + a.at(2) + a.at(3) == doctest::Approx(1.0).epsilon(1e-12));
        CHECK(a.at(4) + a.at(5) == doctest::Approx(1.0).epsilon(1e-12));
        CHECK(a.at(6) == 0.0);
        CHECK(a.at(7) == 0.0);
      }
    }
  }
}

TEST_CASE("TransformerSeq2Seq: incremental greedy and beam decoding equal recomputing the prefix") {
  const Indices source{{3, 5, 4, 6, 4}, {6, 3, 0, 0, 0}, {5, 5, 4, 0, 0}};
  const std::vector<std::int64_t> lengths{5, 2, 3};
  for (DType dtype : {DType::f64, DType::f32}) {
    const double tolerance = dtype == DType::f64 ? 1e-12 : 1e-5;
    for (bool norm_first : {false, true}) {
      CAPTURE(norm_first);
      CAPTURE(dtype_name(dtype));
      TransformerSeq2SeqOptions o = tiny(norm_first, norm_first ? PositionalKind::learned : PositionalKind::sinusoidal);
      o.target_vocab_size = 9;
      auto m = model_in(o, dtype, 7);
      Recompute recompute(*m);
      recompute.eval();

      std::vector<Hypothesis> cached = greedy_decode(*m, source, lengths, {.max_length = 8});
      std::vector<Hypothesis> recomputed = greedy_decode(recompute, source, lengths, {.max_length = 8});
      REQUIRE(cached.size() == 3);
      for (std::size_t b = 0; b < 3; ++b) {
        CAPTURE(b);
        check_same(cached[b], recomputed[b], tolerance);
        REQUIRE(cached[b].attention.size() == cached[b].tokens.size());
        CHECK(cached[b].attention[0].size() == static_cast<std::size_t>(lengths[b]));
      }

      const BeamSearchOptions beam{.beam_size = 4, .length_penalty = 0.6, .n_best = 4, .max_length = 8};
      std::vector<std::vector<Hypothesis>> cached_beams = beam_search(*m, source, lengths, beam);
      std::vector<std::vector<Hypothesis>> recomputed_beams = beam_search(recompute, source, lengths, beam);
      for (std::size_t b = 0; b < 3; ++b) {
        CAPTURE(b);
        REQUIRE(cached_beams[b].size() == recomputed_beams[b].size());
        CHECK(cached_beams[b].size() == 4);
        for (std::size_t i = 0; i < cached_beams[b].size(); ++i)
          check_same(cached_beams[b][i], recomputed_beams[b][i], tolerance);
      }
      // Without the cache, every step over the whole prefix: the same hypotheses and attention.
      m->key_value_cache = false;
      std::vector<Hypothesis> uncached = greedy_decode(*m, source, lengths, {.max_length = 8});
      std::vector<std::vector<Hypothesis>> uncached_beams = beam_search(*m, source, lengths, beam);
      m->key_value_cache = true;
      for (std::size_t b = 0; b < 3; ++b) {
        CAPTURE(b);
        check_same(cached[b], uncached[b], tolerance);
        REQUIRE(uncached[b].attention.size() == cached[b].attention.size());
        for (std::size_t t = 0; t < cached[b].attention.size(); ++t) {
          REQUIRE(uncached[b].attention[t].size() == cached[b].attention[t].size());
          for (std::size_t j = 0; j < cached[b].attention[t].size(); ++j)
            CHECK(std::abs(uncached[b].attention[t][j] - cached[b].attention[t][j]) <= tolerance);
        }
        REQUIRE(uncached_beams[b].size() == cached_beams[b].size());
        for (std::size_t i = 0; i < cached_beams[b].size(); ++i)
          check_same(cached_beams[b][i], uncached_beams[b][i], tolerance);
      }
      // score_targets through the cache gives the beams' scores.
      std::vector<std::vector<std::int64_t>> best;
      for (std::size_t b = 0; b < 3; ++b) {
        best.push_back(cached_beams[b][0].tokens);
        if (!best.back().empty() && best.back().back() == o.eos_id) best.back().pop_back();
      }
      std::vector<double> scores = score_targets(*m, source, lengths, best);
      for (std::size_t b = 0; b < 3; ++b) {
        if (cached_beams[b][0].finished) {
          CHECK(std::abs(scores[b] - cached_beams[b][0].score) <= tolerance * std::max(1.0, std::abs(scores[b])));
        }
      }
    }
  }
}

TEST_CASE("TransformerSeq2Seq: learned positions past max_length stop decoding with the position named") {
  TransformerSeq2SeqOptions o = tiny(false, PositionalKind::learned);
  o.max_length = 4;  // the source's 4 tokens fit, a fifth target position does not
  auto m = model_in(o, DType::f64, 2);
  CHECK_NOTHROW(score_targets(*m, kSource, kLengths, {{3, 4, 5}, {}}));  // positions 0 to 3
  CHECK_THROWS_WITH_AS(score_targets(*m, kSource, kLengths, {{3, 4, 5, 6}, {}}),
                       doctest::Contains("position 4 is past the last one, 3 (max_length 4)"), IndexError);
  CHECK_THROWS_AS(m->next_step(*m->start_decoding(kSource, kLengths), Indices{1, 1, 1}), ShapeError);
}

TEST_CASE("decode: an ensemble of a Transformer and an LSTM scores with the mean of both models") {
  auto transformer = model_in(tiny(true, PositionalKind::sinusoidal), DType::f64, 11);
  Seq2SeqOptions r = Seq2SeqOptions::reference(7, 3, 4);
  Generator gen(12);
  Seq2Seq lstm(r, gen);
  lstm.eval();
  auto lstm64 = copy_as(lstm, DType::f64);
  const DecodingModel* pair[] = {transformer.get(), lstm64.get()};
  std::vector<std::vector<Hypothesis>> beams = beam_search(std::span<const DecodingModel* const>(pair), kSource,
                                                           kLengths, {.beam_size = 3, .n_best = 3, .max_length = 6});
  for (std::size_t b = 0; b < 2; ++b) {
    for (const Hypothesis& h : beams[b]) {
      if (!h.finished) continue;
      std::vector<std::int64_t> tokens(h.tokens.begin(), h.tokens.end() - 1);  // without EOS
      const Indices one = Indices(xt::view(kSource, xt::range(b, b + 1), xt::all()));
      const double mean = (score_targets(*transformer, one, {kLengths[b]}, {tokens})[0] +
                           score_targets(*lstm64, one, {kLengths[b]}, {tokens})[0]) /
                          2;
      CHECK(h.score == doctest::Approx(mean).epsilon(1e-9));
    }
  }
}

TEST_CASE("TransformerSeq2Seq: its decode memory grows with max_length (the cache), Seq2Seq's does not") {
  auto m = model_in(tiny(false, PositionalKind::sinusoidal), DType::f32, 1);
  CHECK(m->decoding_bytes(8, 5, 20) < m->decoding_bytes(8, 5, 40));
  CHECK(m->decoding_bytes(8, 5, 20) < m->decoding_bytes(8, 6, 20));
  CHECK(m->decoding_bytes(8, 5, 20) < m->decoding_bytes(9, 5, 20));
  auto wide = model_in(tiny(false, PositionalKind::sinusoidal), DType::f64, 1);
  CHECK(wide->decoding_bytes(8, 5, 20) == 2 * m->decoding_bytes(8, 5, 20));
  Generator gen(2);
  Seq2Seq lstm(Seq2SeqOptions::reference(7, 3, 4), gen);
  CHECK(lstm.decoding_bytes(8, 5, 20) == lstm.decoding_bytes(8, 5, 40));
  const DecodingModel* pair[] = {m.get(), &lstm};
  CHECK(decode_memory_bytes(std::span<const DecodingModel* const>(pair), 2, 5, 4, 20) ==
        decode_memory_bytes(*m, 2, 5, 4, 20) + lstm.decoding_bytes(8, 5, 20));
}
