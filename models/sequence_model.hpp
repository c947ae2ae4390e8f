#pragma once
/// SequenceModel: a trainable encoder-decoder, what train/ and the command line train, save
/// and decode whatever its architecture (Seq2Seq, TransformerSeq2Seq). On top of what the
/// searches need (DecodingModel), the training loss on Seq2Seq's batches (source ids [B, S]
/// with lengths, target_in = [BOS, y], target_out = [y, EOS], pad_id padding), a fresh model of
/// the same configuration (DataParallel's replicas, throwaway copies, copy_as) and the
/// generator of scheduled sampling, for the models that have one.
///
///   std::unique_ptr<tg::SequenceModel> model = std::make_unique<tg::TransformerSeq2Seq>(options);
///   tg::Var loss = model->loss(source, lengths, target_in, target_out);
///   tg::DataParallel<tg::SequenceModel> parallel(*model, 2);  // replicas made by copy_as below

#include <cstdint>
#include <memory>
#include <vector>

#include "tapegrad/autodiff/var.hpp"
#include "tapegrad/base/generator.hpp"
#include "tapegrad/models/decoding_model.hpp"

namespace tg {

class SequenceModel : public DecodingModel {
 public:
  /// Mean cross entropy of forward()'s logits over the non-padding tokens of target_out
  /// (teacher forcing), with label_smoothing(). source [B, S]; lengths: B values in [1, S], or
  /// empty to count each row's tokens up to its last non-pad one; target_in, target_out [B, T].
  Var loss(const Indices& source, const std::vector<std::int64_t>& lengths, const Indices& target_in,
           const Indices& target_out) const;
  /// The label smoothing of loss()'s cross entropy.
  virtual double label_smoothing() const = 0;
  /// The teacher-forced logits [B, T, V_t] of target_in (arguments as loss()).
  virtual Var forward(const Indices& source, const std::vector<std::int64_t>& lengths,
                      const Indices& target_in) const = 0;
  /// Lengths as loss() takes them, checked (or counted from pad_id when empty).
  virtual std::vector<std::int64_t> source_lengths(const Indices& source,
                                                   const std::vector<std::int64_t>& lengths) const = 0;

  /// A new model of this one's configuration (in the dtype it was built with), its parameters
  /// drawn from `gen`, in training mode.
  virtual std::unique_ptr<SequenceModel> make_fresh(Generator& gen) const = 0;

  /// The generator of scheduled sampling's draws, whose state a training checkpoint saves so
  /// that a resumed run draws what an uninterrupted one would; null for a model without
  /// scheduled sampling.
  virtual Generator* sampling_generator() const { return nullptr; }
};

/// copy_as() through the base: a copy of `m`, of m's architecture, with its own parameters (the
/// same values) converted to `dtype`. What DataParallel<SequenceModel> makes its replicas with.
std::unique_ptr<SequenceModel> copy_as(const SequenceModel& m, DType dtype);

}  // namespace tg
