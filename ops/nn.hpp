#pragma once
/// The neural-net family: softmax, log_softmax, cross_entropy and dropout.

#include "tapegrad/ops/dropout.hpp"
#include "tapegrad/ops/loss.hpp"
#include "tapegrad/ops/softmax.hpp"
