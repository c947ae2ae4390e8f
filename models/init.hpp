#pragma once
/// Initial values for parameters, drawn from a seeded Generator so that a
/// model built after manual_seed(s) is the same on every platform.

#include "tapegrad/autodiff/tensor.hpp"
#include "tapegrad/base/generator.hpp"

namespace tg::init {

/// Uniform in [low, high).
Tensor uniform(const Shape& shape, double low, double high, Generator& gen, DType dtype = DType::f32);
/// Normal(mean, stddev), by Box-Muller over the generator's uniform draws.
Tensor normal(const Shape& shape, double mean, double stddev, Generator& gen, DType dtype = DType::f32);
/// Glorot/Xavier uniform for a [fan_out, fan_in] weight: U(-a, a), a = sqrt(6 / (fan_in + fan_out)).
Tensor xavier_uniform(const Shape& shape, Generator& gen, DType dtype = DType::f32);

}  // namespace tg::init
