#pragma once
/// Parameter groups from a model's parameter names: the usual split that
/// decays weight matrices and leaves biases and normalisation weights alone.

#include <vector>

#include "tapegrad/models/module.hpp"
#include "tapegrad/optim/optimizer.hpp"

namespace tg {

/// True for parameters that should not be decayed: a name ending in "bias",
/// or a value of rank 0 or 1 (LayerNorm's weight, other scales and biases).
bool is_no_decay(const NamedVar& param);

/// Two groups over m.named_parameters() (in that order within each group):
/// group 0 the parameters to decay, with weight_decay; group 1 those for
/// which is_no_decay() holds, with weight decay 0. Either group may be empty.
/// Both take the optimizer's lr. Throws tg::Error for weight_decay < 0 (or NaN).
std::vector<ParamGroup> weight_decay_groups(const Module& m, double weight_decay);

}  // namespace tg
