// Tests of circuit/error_predicate.hpp: what may classify a call (the
// ErrorPredicate concept, its verdicts, which results it classifies) and
// how either verdict becomes an outcome.

#include "catch.hpp"

#include <exception>
#include <string>
#include <system_error>
#include <type_traits>

#include <circuit/error_predicate.hpp>
#include <circuit/exception_predicates.hpp>

using circuit::outcome;

namespace {

// Says bool of exceptions only.
struct by_bool {
  bool operator()(const std::exception_ptr&) const { return true; }
};

// Says an outcome of exceptions, and of int results: negative fails, zero
// is ignored, positive succeeds.
struct by_outcome {
  outcome operator()(const std::exception_ptr&) const { return outcome::failure; }
  outcome operator()(int r) const {
    if (r < 0) return outcome::failure;
    return r == 0 ? outcome::ignored : outcome::success;
  }
};

struct says_int {
  int operator()(const std::exception_ptr&) const { return 1; }
};

struct takes_no_exception {
  bool operator()(int) const { return true; }
};

}  // namespace

TEST_CASE("a verdict is bool or outcome, nothing else", "[error_predicate]") {
  STATIC_REQUIRE(circuit::verdict<bool>);
  STATIC_REQUIRE(circuit::verdict<const bool&>);
  STATIC_REQUIRE(circuit::verdict<outcome>);
  STATIC_REQUIRE_FALSE(circuit::verdict<int>);
  STATIC_REQUIRE_FALSE(circuit::verdict<std::error_code>);
}

TEST_CASE("to_outcome turns true into failure, false into success, and keeps an outcome", "[error_predicate]") {
  STATIC_REQUIRE(circuit::to_outcome(true) == outcome::failure);
  STATIC_REQUIRE(circuit::to_outcome(false) == outcome::success);
  STATIC_REQUIRE(circuit::to_outcome(outcome::ignored) == outcome::ignored);
  STATIC_REQUIRE(circuit::to_outcome(outcome::success) == outcome::success);
  STATIC_REQUIRE(circuit::to_outcome(outcome::failure) == outcome::failure);
}

TEST_CASE("an ErrorPredicate takes an exception_ptr and returns a verdict", "[error_predicate]") {
  STATIC_REQUIRE(circuit::error_predicate<by_bool>);
  STATIC_REQUIRE(circuit::error_predicate<by_outcome>);
  STATIC_REQUIRE(circuit::error_predicate<circuit::any_exception>);
  STATIC_REQUIRE_FALSE(circuit::error_predicate<says_int>);
  STATIC_REQUIRE_FALSE(circuit::error_predicate<takes_no_exception>);
  STATIC_REQUIRE_FALSE(circuit::error_predicate<int>);
}

TEST_CASE("a predicate classifies results of the types it takes, never void or exception_ptr",
          "[error_predicate]") {
  STATIC_REQUIRE(circuit::result_predicate_for<by_outcome, int>);
  STATIC_REQUIRE(circuit::result_predicate_for<by_outcome, const int&>);
  STATIC_REQUIRE_FALSE(circuit::result_predicate_for<by_outcome, std::string>);
  STATIC_REQUIRE_FALSE(circuit::result_predicate_for<by_outcome, void>);
  STATIC_REQUIRE_FALSE(circuit::result_predicate_for<by_outcome, std::exception_ptr>);
  STATIC_REQUIRE_FALSE(circuit::result_predicate_for<by_bool, int>);
}
