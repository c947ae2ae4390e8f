#pragma once
/// Linear: y = x W^T + b, as torch.nn.Linear.
///
/// Parameters: weight [out_features, in_features], bias [out_features]; both
/// start U(-1/sqrt(in), 1/sqrt(in)), PyTorch's default.

#include <cstddef>

#include "tapegrad/models/module.hpp"

namespace tg {

struct LinearOptions {
  std::size_t in_features = 0;   ///< size of the last input dimension
  std::size_t out_features = 0;  ///< size of the last output dimension
  bool bias = true;              ///< add a learned bias
  DType dtype = DType::f32;      ///< dtype of the parameters
};

class Linear : public Module {
 public:
  explicit Linear(const LinearOptions& options, Generator& gen = default_generator());
  /// x: [..., in_features] (rank 2 or 3) -> [..., out_features]
  Var forward(const Var& x) const;
  const LinearOptions& options() const { return options_; }

  Var weight;  ///< [out_features, in_features]
  Var bias;    ///< [out_features]; undefined without bias

 private:
  LinearOptions options_;
};

}  // namespace tg
