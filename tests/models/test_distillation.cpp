// Word-level distillation of sequence models (models/distillation.hpp): the mixed loss's parts,
// teachers as an ensemble, its gradient (module gradcheck), refused teachers.
#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include "tapegrad.hpp"

using namespace tg;

namespace {

Seq2SeqOptions options(std::size_t hidden, std::size_t target_vocab = 6) {
  Seq2SeqOptions o;
  o.source_vocab_size = 7;
  o.target_vocab_size = target_vocab;
  o.embedding_size = 3;
  o.hidden_size = hidden;
  o.attention.kind = AttentionKind::general;
  o.label_smoothing = 0.1;
  return o;
}

struct TinyBatch {
  Indices source = Indices{{3, 5, 4, 6}, {6, 3, 0, 0}};
  std::vector<std::int64_t> lengths = {4, 2};
  Indices target_in = Indices{{1, 4, 3, 0}, {1, 5, 5, 3}};
  Indices target_out = Indices{{4, 3, 2, 0}, {5, 5, 3, 2}};
};

}  // namespace

TEST_CASE("distilled_loss: alpha 0 is the cross entropy, and a teacher equal to the student adds nothing") {
  Generator gen(1);
  auto student = copy_as(Seq2Seq(options(4), gen), DType::f64);
  student->eval();
  Generator other(2);
  auto teacher = copy_as(Seq2Seq(options(5), other), DType::f64);
  teacher->eval();
  const TinyBatch b;
  const SequenceModel* teachers[] = {teacher.get()};
  const double ce = student->loss(b.source, b.lengths, b.target_in, b.target_out).item();
  CHECK(distilled_loss(*student, teachers, b.source, b.lengths, b.target_in, b.target_out, {.alpha = 0}).item() == ce);
  const double mixed =
      distilled_loss(*student, teachers, b.source, b.lengths, b.target_in, b.target_out, {.alpha = 0.3}).item();
  CHECK(mixed > 0.7 * ce);  // the KL term of a different teacher is positive

  const SequenceModel* itself[] = {student.get()};
  const double same =
      distilled_loss(*student, itself, b.source, b.lengths, b.target_in, b.target_out, {.alpha = 0.3}).item();
  CHECK(same == doctest::Approx(0.7 * ce).epsilon(1e-12));

  // Two copies of one teacher are that teacher.
  const SequenceModel* pair[] = {teacher.get(), teacher.get()};
  const double two =
      distilled_loss(*student, pair, b.source, b.lengths, b.target_in, b.target_out, {.alpha = 0.6, .temperature = 3})
          .item();
  const double one = distilled_loss(*student, teachers, b.source, b.lengths, b.target_in, b.target_out,
                                    {.alpha = 0.6, .temperature = 3})
                         .item();
  CHECK(two == doctest::Approx(one).epsilon(1e-12));
}

TEST_CASE("distilled_loss passes a module gradcheck through the student's parameters") {
  Generator gen(3);
  auto student = copy_as(Seq2Seq(options(4), gen), DType::f64);
  student->eval();
  Generator other(4);
  auto a = copy_as(Seq2Seq(options(3), other), DType::f64);
  auto b2 = copy_as(Seq2Seq(options(5), other), DType::f64);
  a->eval();
  b2->eval();
  const TinyBatch b;
  const SequenceModel* teachers[] = {a.get(), b2.get()};
  const GradcheckReport report = gradcheck(*student, [&](const std::vector<Var>&) {
    return distilled_loss(*student, teachers, b.source, b.lengths, b.target_in, b.target_out,
                          {.alpha = 0.4, .temperature = 2});
  });
  INFO(report.message());
  CHECK(report.passed);
}

TEST_CASE("distilled_loss refuses a teacher of another target vocabulary, and alpha outside [0, 1]") {
  Generator gen(5);
  Seq2Seq student(options(4), gen);
  Seq2Seq teacher(options(4, 9), gen);
  const TinyBatch b;
  const SequenceModel* teachers[] = {&teacher};
  CHECK_THROWS_WITH_AS(distilled_loss(student, teachers, b.source, b.lengths, b.target_in, b.target_out),
                       doctest::Contains("has 9 target tokens and padding id 0, the student (tg::Seq2Seq) 6 and 0"),
                       Error);
  const SequenceModel* itself[] = {&student};
  CHECK_THROWS_WITH_AS(distilled_loss(student, itself, b.source, b.lengths, b.target_in, b.target_out, {.alpha = 1.5}),
                       doctest::Contains("alpha 1.5 is outside [0, 1]"), Error);
}
