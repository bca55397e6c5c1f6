// The doctest entry point: every tests/test_*.cpp links into one runner.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>
