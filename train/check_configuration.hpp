#pragma once
// A saved model's configuration against its file's tensors, before the model is built: a
// configuration that does not describe the file (encoder_layers = 100000000, a Transformer's
// d_model that its embeddings do not have) is refused by name instead of allocated.
#include <string>

#include "tapegrad/io/safetensors.hpp"
#include "tapegrad/train/model_config.hpp"

namespace tg {

/// Checks the sizes that shape the tensors (embeddings, hidden or feed-forward sizes, layers,
/// directions, shared tables, learned positions), then the number of parameters: at least the
/// file's model values and at most twice as many, so that building the model takes at most
/// twice what the file holds. Throws Error (an invalid configuration) or CheckpointError (one
/// that does not describe the file) naming `source`, the field and the tensor.
void check_configuration(const ModelOptions& options, const SafetensorsHeader& header, const std::string& source);

}  // namespace tg
