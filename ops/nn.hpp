#pragma once
/// The neural-net family: softmax, log_softmax, cross_entropy, dropout and layer_norm.

#include "tapegrad/ops/dropout.hpp"
#include "tapegrad/ops/loss.hpp"
#include "tapegrad/ops/normalization.hpp"
#include "tapegrad/ops/softmax.hpp"
