// Test-runner main for Catch2 v2 only (v3 links Catch2::Catch2WithMain).
#define CATCH_CONFIG_MAIN
#include "catch.hpp"
