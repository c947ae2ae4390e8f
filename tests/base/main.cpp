// The base suite: the files, UTF-8 and the generator under every layer.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>
