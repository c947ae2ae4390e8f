// The io suite: safetensors files, checkpoints, and the PyTorch round trip.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>
