#pragma once
/// The neural-net family: softmax, log_softmax, cross_entropy and dropout.

#include "dropout.hpp"
#include "loss.hpp"
#include "softmax.hpp"
