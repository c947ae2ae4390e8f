#pragma once
/// tapegrad: one include for everything.

#include "autodiff/error.hpp"
#include "autodiff/gradcheck.hpp"
#include "autodiff/mode.hpp"
#include "autodiff/pool.hpp"
#include "autodiff/scope.hpp"
#include "autodiff/tape.hpp"
#include "autodiff/tensor.hpp"
#include "autodiff/var.hpp"
#include "ops/activation.hpp"
#include "ops/dropout.hpp"
#include "ops/elementwise.hpp"
#include "ops/loss.hpp"
#include "ops/nn.hpp"
#include "ops/softmax.hpp"
