// SequenceModel: the base that train/ holds either architecture by. Its copies keep the
// architecture and the numbers; the Transformer's parameter count from its options alone (what
// a checkpoint's configuration is checked with) is the built model's.
#include <doctest/doctest.h>

#include <memory>
#include <vector>

#include "tapegrad/autodiff/tape.hpp"
#include "tapegrad/models/seq2seq.hpp"
#include "tapegrad/models/transformer_seq2seq.hpp"

using namespace tg;

namespace {

const Indices kSource{{3, 5, 4, 6}, {6, 3, 0, 0}};
const std::vector<std::int64_t> kLengths{4, 2};
const Indices kTargetIn{{1, 4, 3, 0}, {1, 5, 5, 3}};
const Indices kTargetOut{{4, 3, 2, 0}, {5, 5, 3, 2}};

TransformerSeq2SeqOptions transformer_options() {
  TransformerSeq2SeqOptions o;
  o.source_vocab_size = 7;
  o.target_vocab_size = 7;
  o.transformer = {
      .d_model = 4, .nhead = 2, .num_encoder_layers = 2, .num_decoder_layers = 1, .dim_feedforward = 6, .dropout = 0.0};
  return o;
}

Seq2SeqOptions recurrent_options() {
  Seq2SeqOptions o;
  o.source_vocab_size = 7;
  o.target_vocab_size = 7;
  o.embedding_size = 3;
  o.hidden_size = 4;
  return o;
}

}  // namespace

TEST_CASE("parameter_count_of(TransformerSeq2SeqOptions) counts what the model builds") {
  struct Case {
    bool bias, share, tie, learned, norm_first;
    std::size_t encoder_layers, decoder_layers;
  };
  for (const Case c : {Case{true, false, false, false, false, 2, 1}, Case{false, false, false, false, true, 1, 2},
                       Case{true, true, false, true, false, 1, 1}, Case{true, false, true, false, true, 3, 2},
                       Case{false, true, true, true, false, 2, 3}}) {
    TransformerSeq2SeqOptions o = transformer_options();
    o.transformer.bias = c.bias;
    o.transformer.norm_first = c.norm_first;
    o.transformer.num_encoder_layers = c.encoder_layers;
    o.transformer.num_decoder_layers = c.decoder_layers;
    o.share_embeddings = c.share;
    o.tie_output = c.tie;
    o.positional = c.learned ? PositionalKind::learned : PositionalKind::sinusoidal;
    o.max_length = 9;
    CAPTURE(c.bias);
    CAPTURE(c.share);
    CAPTURE(c.tie);
    CAPTURE(c.learned);
    const TransformerSeq2Seq m(o);
    CHECK(parameter_count_of(o) == double(m.parameter_count()));
  }
  TransformerSeq2SeqOptions bad = transformer_options();
  bad.transformer.nhead = 3;  // does not divide d_model 4
  CHECK_THROWS_AS(parameter_count_of(bad), Error);
}

TEST_CASE("SequenceModel: copy_as through the base keeps the architecture, the loss and the sampling hook") {
  Generator gen(3);
  const Seq2Seq rnn(recurrent_options(), gen);
  const TransformerSeq2Seq transformer(transformer_options(), gen);
  for (const SequenceModel* m : std::vector<const SequenceModel*>{&rnn, &transformer}) {
    std::unique_ptr<SequenceModel> copy = copy_as(*m, DType::f64);
    const SequenceModel& copied = *copy;  // typeid of a plain reference: no call inside typeid
    CHECK(typeid(copied) == typeid(*m));
    CHECK(copy->dtype() == DType::f64);
    CHECK(copy->parameter_count() == m->parameter_count());
    const double expected = m->loss(kSource, kLengths, kTargetIn, kTargetOut).item();
    CHECK(copy->loss(kSource, kLengths, kTargetIn, kTargetOut).item() == doctest::Approx(expected).epsilon(1e-6));
    current_tape().reset();
    // A fresh model is of the same configuration, with other values.
    Generator other(4);
    std::unique_ptr<SequenceModel> fresh = m->make_fresh(other);
    const SequenceModel& made = *fresh;
    CHECK(typeid(made) == typeid(*m));
    CHECK(fresh->parameter_count() == m->parameter_count());
    CHECK(fresh->parameters()[0].value().to_vector() != m->parameters()[0].value().to_vector());
  }
  CHECK(rnn.sampling_generator() != nullptr);
  CHECK(static_cast<const SequenceModel&>(transformer).sampling_generator() == nullptr);
}
