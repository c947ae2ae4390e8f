// The data suite: UTF-8, vocabularies, corpus and dictionary readers, batching, metrics.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>
