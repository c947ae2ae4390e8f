// The kernels suite: BLAS dispatch and fast math on raw buffers, no tape.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>
