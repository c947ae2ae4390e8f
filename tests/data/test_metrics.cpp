// Metrics: edit distance, G2P WER/PER with several references, BLEU against
// NLTK's fixtures, ROUGE against hand-computed values, token accuracy and perplexity.
#include <doctest/doctest.h>

#include <cmath>
#include <string>
#include <vector>

#include "data_helpers.hpp"
#include "fixtures.hpp"
#include "tapegrad/metrics/bleu.hpp"
#include "tapegrad/metrics/edit_distance.hpp"
#include "tapegrad/metrics/rouge.hpp"
#include "tapegrad/metrics/token.hpp"

using namespace tg;
using namespace tg::test;

namespace {

Tokens words(const std::string& text) {
  Tokens out;
  std::string word;
  for (char c : text + " ") {
    if (c == ' ') {
      if (!word.empty()) out.push_back(word);
      word.clear();
    } else {
      word += c;
    }
  }
  return out;
}

Tokens chars(const std::string& text) {
  Tokens out;
  for (char c : text) out.emplace_back(1, c);
  return out;
}

void check_close(double got, double expected) {
  INFO("got ", got, ", expected ", expected);
  if (expected == 0.0) {
    CHECK(got == 0.0);
  } else {
    CHECK(std::fabs(got - expected) <= 1e-12 * std::fabs(expected));
  }
}

void check_rouge(const RougeScore& s, double precision, double recall, double f1) {
  CHECK(s.precision == doctest::Approx(precision).epsilon(1e-15));
  CHECK(s.recall == doctest::Approx(recall).epsilon(1e-15));
  CHECK(s.f1 == doctest::Approx(f1).epsilon(1e-15));
}

}  // namespace

TEST_CASE("Levenshtein distance") {
  CHECK(edit_distance(chars("kitten"), chars("sitting")) == 3);  // k->s, e->i, +g
  CHECK(edit_distance(chars("flaw"), chars("lawn")) == 2);       // -f, +n
  CHECK(edit_distance(chars(""), chars("abc")) == 3);
  CHECK(edit_distance(chars("abc"), chars("")) == 3);
  CHECK(edit_distance(chars("same"), chars("same")) == 0);
  CHECK(edit_distance(words("T AH M EY T OW"), words("T AH M AA T OW")) == 1);
  CHECK(edit_distance(std::vector<std::int64_t>{1, 2, 3}, std::vector<std::int64_t>{3, 2, 1}) == 2);
  CHECK(edit_distance(std::vector<std::int64_t>{}, std::vector<std::int64_t>{}) == 0);
}

TEST_CASE("G2P scores: right when equal to any reference, PER to the nearest") {
  const std::vector<Tokens> predictions{words("T AH M EY T OW"), words("R EH D"), words("K AE T S"), words("A B")};
  const std::vector<std::vector<Tokens>> references{
      {words("T AH M EY T OW"), words("T AH M AA T OW")},  // right: the first
      {words("R IY D"), words("R EH D")},                  // right: the second
      {words("K AE T")},                                   // wrong: one insertion, 3 reference tokens
      {words("A B C"), words("A")},                        // wrong: distance 1 to both, the tie goes to "A"
  };
  const G2PScore s = score_g2p(predictions, references);
  CHECK(s.words == 4);
  CHECK(s.wrong_words == 2);
  CHECK(s.edits == 2);
  CHECK(s.reference_tokens == 6 + 3 + 3 + 1);
  CHECK(s.wer() == 0.5);
  CHECK(s.per() == doctest::Approx(2.0 / 13.0));
  CHECK(nearest_reference(words("A B"), references[3]) == 1);
  CHECK(nearest_reference(words("R EH D"), references[1]) == 1);
  G2PScore sum = score_word(predictions[0], references[0]);
  sum += score_word(predictions[2], references[2]);
  CHECK(sum.wer() == 0.5);
  CHECK(sum.per() == doctest::Approx(1.0 / 9.0));
  CHECK(G2PScore{}.wer() == 0.0);
  CHECK(G2PScore{}.per() == 0.0);
}

TEST_CASE("G2P scores refuse mismatched or missing references") {
  expect_error<MetricError>([] { score_g2p({words("A")}, {}); }, {"1 predictions but 0 reference sets"});
  expect_error<MetricError>(
      [] {
        score_g2p({words("A"), words("B")}, {{words("A")}, {}});
      },
      {"without references", "word 1"});
  expect_error<MetricError>(
      [] {
        score_g2p({words("A")}, {{words("A"), Tokens{}}});
      },
      {"reference 1 is empty", "word 0"});
  expect_error<MetricError>([] { nearest_reference(words("A"), {}); }, {"no references"});
}

TEST_CASE("corpus BLEU equals NLTK's corpus_bleu") {
  const nlohmann::json fixtures = load_fixtures("bleu.json");
  for (const auto& c : fixtures.at("cases")) {
    INFO("case ", c.at("name").get<std::string>());
    const auto references = c.at("references").get<std::vector<std::vector<Tokens>>>();
    const auto hypotheses = c.at("hypotheses").get<std::vector<Tokens>>();
    const BleuScore s = corpus_bleu(references, hypotheses);
    const auto matches = c.at("matches").get<std::vector<std::size_t>>();
    const auto totals = c.at("totals").get<std::vector<std::size_t>>();
    for (std::size_t n = 0; n < 4; ++n) {
      CHECK(s.matches[n] == matches[n]);
      CHECK(s.totals[n] == totals[n]);
    }
    CHECK(s.hypothesis_length == c.at("hypothesis_length").get<std::size_t>());
    CHECK(s.reference_length == c.at("reference_length").get<std::size_t>());
    check_close(s.brevity_penalty, c.at("brevity_penalty").get<double>());
    check_close(s.score, c.at("bleu").get<double>());
  }
}

TEST_CASE("BLEU: no 4-gram match is NLTK's tiny number, no unigram match is 0") {
  // p = 3/4, 2/3, 1/2 and the floor: (3/4 * 2/3 * 1/2 * 2.2e-308)^(1/4) = 8.6e-78.
  const BleuScore tiny = corpus_bleu({{words("a b c d")}}, {words("a b c e")});
  CHECK(tiny.score > 0.0);
  CHECK(tiny.score == doctest::Approx(std::pow(0.25 * bleu_precision_floor, 0.25)).scale(0).epsilon(1e-12));
  CHECK(corpus_bleu({{words("a b")}}, {words("c d")}).score == 0.0);
  CHECK(corpus_bleu({}, {}).score == 0.0);
  expect_error<MetricError>([] { corpus_bleu({{words("a")}}, {}); }, {"0 hypotheses but 1 reference sets"});
  expect_error<MetricError>(
      [] {
        corpus_bleu({{words("a")}, {}}, {words("a"), words("b")});
      },
      {"sentence 1 has no references"});
  expect_error<MetricError>([] { BleuScore{}.precision(5); }, {"n = 5"});
}

TEST_CASE("ROUGE-1, ROUGE-2 and ROUGE-L by hand") {
  const Tokens cand = words("the cat was found under the bed");  // 7 tokens
  const Tokens ref = words("the cat was under the bed");         // 6 tokens
  // ROUGE-1: overlap the 2 + cat + was + under + bed = 6; P = 6/7, R = 6/6,
  // F1 = 2 (6/7)(1) / (6/7 + 1) = (12/7) / (13/7) = 12/13.
  check_rouge(rouge_n(cand, ref, 1), 6.0 / 7.0, 1.0, 12.0 / 13.0);
  // ROUGE-2: candidate bigrams 6 (the cat, cat was, was found, found under, under the, the bed),
  // reference 5 (the cat, cat was, was under, under the, the bed), overlap 4;
  // P = 4/6, R = 4/5, F1 = 2 (2/3)(4/5) / (2/3 + 4/5) = (16/15) / (22/15) = 8/11.
  check_rouge(rouge_n(cand, ref, 2), 4.0 / 6.0, 4.0 / 5.0, 8.0 / 11.0);
  // ROUGE-L: LCS = "the cat was under the bed" = 6; P = 6/7, R = 6/6, F1 = 12/13.
  CHECK(lcs_length(cand, ref) == 6);
  check_rouge(rouge_l(cand, ref), 6.0 / 7.0, 1.0, 12.0 / 13.0);

  // Clipping: "the" 4 times against 2 in the reference counts 2. ROUGE-1: P = 2/4,
  // R = 2/3, F1 = 2 (1/2)(2/3) / (1/2 + 2/3) = (2/3) / (7/6) = 4/7. ROUGE-2: no
  // common bigram ("the the" x3 against "the cat", "cat the"): 0. ROUGE-L: LCS =
  // "the the" = 2, the same rates as ROUGE-1: 4/7.
  const Tokens repeated = words("the the the the"), ref2 = words("the cat the");
  check_rouge(rouge_n(repeated, ref2, 1), 0.5, 2.0 / 3.0, 4.0 / 7.0);
  check_rouge(rouge_n(repeated, ref2, 2), 0.0, 0.0, 0.0);
  check_rouge(rouge_l(repeated, ref2), 0.5, 2.0 / 3.0, 4.0 / 7.0);

  // Lin's own example (section 3.1): reference "police killed the gunman".
  // S2 "police kill the gunman": LCS police the gunman = 3, ROUGE-L = 3/4.
  // S3 "the gunman kill police": LCS the gunman = 2, ROUGE-L = 2/4; both ROUGE-2 = 1/3.
  const Tokens lin_ref = words("police killed the gunman");
  check_rouge(rouge_l(words("police kill the gunman"), lin_ref), 0.75, 0.75, 0.75);
  check_rouge(rouge_l(words("the gunman kill police"), lin_ref), 0.5, 0.5, 0.5);
  check_rouge(rouge_n(words("police kill the gunman"), lin_ref, 2), 1.0 / 3.0, 1.0 / 3.0, 1.0 / 3.0);
  check_rouge(rouge_n(words("the gunman kill police"), lin_ref, 2), 1.0 / 3.0, 1.0 / 3.0, 1.0 / 3.0);

  // Nothing to count: an empty candidate, n above both lengths.
  check_rouge(rouge_n({}, ref, 1), 0.0, 0.0, 0.0);
  check_rouge(rouge_l({}, ref), 0.0, 0.0, 0.0);
  check_rouge(rouge_n(words("a"), words("a"), 2), 0.0, 0.0, 0.0);
  expect_error<MetricError>([&] { rouge_n(cand, ref, 0); }, {"n must be at least 1"});
}

TEST_CASE("corpus ROUGE averages the pairs") {
  // ROUGE-1 F1 of the pairs: 12/13 and 4/7, mean (12/13 + 4/7) / 2.
  const RougeSummary s = corpus_rouge({words("the cat was found under the bed"), words("the the the the")},
                                      {words("the cat was under the bed"), words("the cat the")});
  CHECK(s.rouge1.f1 == doctest::Approx((12.0 / 13.0 + 4.0 / 7.0) / 2.0));
  CHECK(s.rouge2.f1 == doctest::Approx((8.0 / 11.0 + 0.0) / 2.0));
  CHECK(s.rouge_l.recall == doctest::Approx((1.0 + 2.0 / 3.0) / 2.0));
  expect_error<MetricError>([] { corpus_rouge({}, {}); }, {"empty corpus"});
  expect_error<MetricError>([] { corpus_rouge({words("a")}, {}); }, {"1 candidates but 0 references"});
}

TEST_CASE("token accuracy and perplexity from logits") {
  // [B = 1, T = 3, V = 3]. Step 0: all equal, the argmax tie goes to 0, target 1: wrong,
  // cross-entropy log 3. Step 1: [0, 1, 0], target 1: right, log(e^0 + e^1 + e^0) - 1 =
  // log(2 + e) - 1. Step 2: target 0 is padding, skipped.
  const Tensor logits = Tensor::from_vector({0, 0, 0, 0, 1, 0, 5, -5, 0}, {1, 3, 3}, DType::f32);
  const Indices targets = {{1, 1, 0}};
  TokenStats stats;
  stats.add(logits, targets);
  CHECK(stats.tokens == 2);
  CHECK(stats.correct == 1);
  const double sum = std::log(3.0) + std::log(2.0 + std::exp(1.0)) - 1.0;
  CHECK(stats.cross_entropy_sum == doctest::Approx(sum).epsilon(1e-12));
  CHECK(stats.accuracy() == 0.5);
  CHECK(stats.mean_cross_entropy() == doctest::Approx(sum / 2));
  CHECK(stats.perplexity() == doctest::Approx(std::exp(sum / 2)));
  // Uniform logits: perplexity is the vocabulary's size.
  TokenStats uniform;
  uniform.add(Tensor::zeros({4, 7}, DType::f64), Indices{1, 2, 3, 6});
  CHECK(uniform.perplexity() == doctest::Approx(7.0));
  CHECK(perplexity(std::log(7.0)) == doctest::Approx(7.0));
  stats += uniform;
  CHECK(stats.tokens == 6);
  CHECK(stats.correct == 1);
  CHECK(TokenStats{}.accuracy() == 0.0);
  CHECK(TokenStats{}.perplexity() == 1.0);
  // ignore_index other than 0.
  TokenStats keep_zero;
  keep_zero.add(logits, targets, -100);
  CHECK(keep_zero.tokens == 3);
  CHECK(keep_zero.correct == 2);  // step 2: argmax 0 = target 0
}

TEST_CASE("token stats refuse shapes that do not fit and targets outside the vocabulary") {
  TokenStats stats;
  expect_error<ShapeError>(
      [&] {
        stats.add(Tensor::zeros({2, 3, 4}), Indices{{1, 1, 1}});
      },
      {"logits [2, 3, 4] do not fit targets [1, 3]"});
  expect_error<ShapeError>([&] { stats.add(Tensor::zeros({2, 3}), Indices{{1, 1, 1}}); }, {"do not fit"});
  expect_error<IndexError>(
      [&] {
        stats.add(Tensor::zeros({2, 3}), Indices{1, 3});
      },
      {"target 3 at position 1 is outside [0, 3)"});
  expect_error<IndexError>([&] { stats.add(Tensor::zeros({1, 3}), Indices{-2}); }, {"target -2"});
  CHECK(stats.tokens == 0);
}
