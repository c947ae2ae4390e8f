// The training library suite (train/): the horizon planner on made-up step times, the run
// state's JSON, and a Trainer stopped by its stop request.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>
