// Tests of circuit/detect_error_codes.hpp: error codes, error conditions,
// error enums and expected-like results returned by a call are failures.

#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>
#include <system_error>
#include <type_traits>
#include <utility>

#include <circuit/circuit_breaker.hpp>
#include <circuit/detect_error_codes.hpp>
#include <circuit/detect_results.hpp>
#include <circuit/exception_predicates.hpp>
#include <circuit/manual_clock.hpp>
#include <circuit/sliding_window.hpp>

#include "catch.hpp"

#if __has_include(<expected>)
#include <expected>
#endif

using namespace std::chrono_literals;

namespace {

// A minimal expected-like result: has_value() and error(), as std::expected
// (which g++ 12 does not have in C++20).
template <class T, class E>
class result {
 public:
  static result ok(T v) { return result(std::move(v), E{}, true); }
  static result fail(E e) { return result(T{}, std::move(e), false); }
  [[nodiscard]] bool has_value() const noexcept { return ok_; }
  [[nodiscard]] const T& value() const { return value_; }
  [[nodiscard]] const E& error() const { return error_; }

 private:
  result(T v, E e, bool ok) : value_(std::move(v)), error_(std::move(e)), ok_(ok) {}
  T value_;
  E error_;
  bool ok_;
};

// An error code enum of our own, registered as the standard asks.
enum class db_error { ok = 0, busy = 1, corrupt = 2 };

}  // namespace

template <>
struct std::is_error_code_enum<db_error> : std::true_type {};

namespace {

class db_category_t final : public std::error_category {
 public:
  [[nodiscard]] const char* name() const noexcept override { return "db"; }
  [[nodiscard]] std::string message(int v) const override { return v == 0 ? "ok" : "db error"; }
};
const std::error_category& db_category() {
  static const db_category_t c;
  return c;
}
std::error_code make_error_code(db_error e) { return {static_cast<int>(e), db_category()}; }

// Results detect_error_codes() must not take.
struct http_response {  // holds an error code, but is not one
  std::error_code ec;
  std::string body;
};
struct converts_to_error_code {  // converts, but is not one
  operator std::error_code() const { return std::make_error_code(std::errc::io_error); }  // NOLINT
};
struct has_value_only {  // std::optional's shape: no error()
  [[nodiscard]] bool has_value() const { return true; }
};

// Hand-written predicates, with and without the marker.
struct marked_policy {
  using looks_at_results = void;
  bool operator()(const std::exception_ptr& e) const { return static_cast<bool>(e); }
  bool operator()(const http_response& r) const { return static_cast<bool>(r.ec); }
};
struct unmarked_policy {
  bool operator()(const std::exception_ptr& e) const { return static_cast<bool>(e); }
  bool operator()(const http_response& r) const { return static_cast<bool>(r.ec); }
};

using codes = decltype(circuit::detect_error_codes());
using lenient_codes = decltype(circuit::other_results_succeed(circuit::detect_error_codes()));

template <class Predicate>
using breaker = circuit::circuit_breaker<circuit::manual_clock, circuit::sliding_window, Predicate>;

template <class Predicate>
auto make_breaker(Predicate p, std::uint32_t max_failures, circuit::manual_clock clock) {
  return std::make_unique<breaker<Predicate>>(circuit::sliding_window{.max_failures = max_failures, .window = 60s},
                                              circuit::options{.name = "db", .open_for = circuit::fixed{5s}}, clock,
                                              std::move(p));
}

std::error_code refused() { return std::make_error_code(std::errc::connection_refused); }

}  // namespace

TEST_CASE("a non-zero std::error_code is a failure, a zero one is not", "[detect_error_codes]") {
  const auto p = circuit::detect_error_codes();
  CHECK(p(refused()));
  CHECK(p(std::error_code(1, std::generic_category())));
  CHECK(p(make_error_code(db_error::busy)));
  CHECK_FALSE(p(std::error_code{}));
  CHECK_FALSE(p(std::error_code(0, std::system_category())));
}

TEST_CASE("a non-zero std::error_condition is a failure, a zero one is not", "[detect_error_codes]") {
  const auto p = circuit::detect_error_codes();
  CHECK(p(std::make_error_condition(std::errc::timed_out)));
  CHECK(p(refused().default_error_condition()));
  CHECK_FALSE(p(std::error_condition{}));
}

TEST_CASE("a std::errc other than {} is a failure, and so is any registered error enum", "[detect_error_codes]") {
  const auto p = circuit::detect_error_codes();
  CHECK(p(std::errc::timed_out));
  CHECK(p(std::errc::connection_reset));
  CHECK_FALSE(p(std::errc{}));
  CHECK(p(db_error::busy));
  CHECK(p(db_error::corrupt));
  CHECK_FALSE(p(db_error::ok));
}

TEST_CASE("an expected-like result holding an error is a failure, one holding a value is not",
          "[detect_error_codes]") {
  const auto p = circuit::detect_error_codes();
  using r = result<int, std::error_code>;
  CHECK(p(r::fail(refused())));
  CHECK_FALSE(p(r::ok(42)));
  // Whatever the error type, and even when the value is itself an error code:
  // has_value() alone decides.
  CHECK(p(result<std::string, std::string>::fail("no such key")));
  CHECK_FALSE(p(result<std::error_code, int>::ok(refused())));
  CHECK(p(result<std::error_code, int>::fail(0)));
#if defined(__cpp_lib_expected)
  CHECK(p(std::expected<int, std::errc>(std::unexpected(std::errc::timed_out))));
  CHECK_FALSE(p(std::expected<int, std::errc>(7)));
#endif
}

TEST_CASE("detect_error_codes treats every exception as a failure", "[detect_error_codes]") {
  const auto p = circuit::detect_error_codes();
  CHECK(p(std::make_exception_ptr(std::runtime_error("down"))));
  CHECK(p(std::make_exception_ptr(std::system_error(refused()))));
  CHECK(p(std::make_exception_ptr(42)));
  CHECK_FALSE(p(std::exception_ptr{}));

  // With a base, the base decides for exceptions only.
  const auto q = circuit::detect_error_codes(circuit::failure_on<std::system_error>{});
  CHECK(q(std::make_exception_ptr(std::system_error(refused()))));
  CHECK_FALSE(q(std::make_exception_ptr(std::logic_error("a bug of ours"))));
  CHECK(q(std::errc::timed_out));
}

TEST_CASE("detect_error_codes takes error results only, not what merely holds or converts to one",
          "[detect_error_codes]") {
  STATIC_REQUIRE(circuit::result_predicate_for<codes, std::error_code>);
  STATIC_REQUIRE(circuit::result_predicate_for<codes, const std::error_code&>);
  STATIC_REQUIRE(circuit::result_predicate_for<codes, std::error_condition>);
  STATIC_REQUIRE(circuit::result_predicate_for<codes, std::errc>);
  STATIC_REQUIRE(circuit::result_predicate_for<codes, db_error>);
  STATIC_REQUIRE(circuit::result_predicate_for<codes, result<int, std::error_code>>);

  STATIC_REQUIRE_FALSE(circuit::result_predicate_for<codes, int>);  // an errno
  STATIC_REQUIRE_FALSE(circuit::result_predicate_for<codes, bool>);
  STATIC_REQUIRE_FALSE(circuit::result_predicate_for<codes, std::string>);
  STATIC_REQUIRE_FALSE(circuit::result_predicate_for<codes, http_response>);
  STATIC_REQUIRE_FALSE(circuit::result_predicate_for<codes, converts_to_error_code>);
  STATIC_REQUIRE_FALSE(circuit::result_predicate_for<codes, has_value_only>);
  STATIC_REQUIRE_FALSE(circuit::result_predicate_for<codes, void>);
  STATIC_REQUIRE_FALSE(circuit::result_predicate_for<codes, std::exception_ptr>);

  // other_results_succeed takes the same results; the breaker counts the rest as successes.
  STATIC_REQUIRE(circuit::result_predicate_for<lenient_codes, std::errc>);
  STATIC_REQUIRE_FALSE(circuit::result_predicate_for<lenient_codes, int>);
}

TEST_CASE("looks_at_results is true for result detectors and marked predicates only", "[detect_error_codes]") {
  STATIC_REQUIRE(circuit::looks_at_results<codes>);
  STATIC_REQUIRE(circuit::looks_at_results<const codes&>);
  using codes_with_base = decltype(circuit::detect_error_codes(circuit::failure_on<std::system_error>{}));
  STATIC_REQUIRE(circuit::looks_at_results<codes_with_base>);
  STATIC_REQUIRE(circuit::looks_at_results<marked_policy>);

  STATIC_REQUIRE_FALSE(circuit::looks_at_results<lenient_codes>);
  STATIC_REQUIRE_FALSE(circuit::looks_at_results<unmarked_policy>);
  STATIC_REQUIRE_FALSE(circuit::looks_at_results<circuit::any_exception>);
  STATIC_REQUIRE_FALSE(circuit::looks_at_results<circuit::failure_on<std::system_error>>);

  STATIC_REQUIRE(circuit::error_predicate<codes>);
  STATIC_REQUIRE(circuit::error_predicate<lenient_codes>);
}

TEST_CASE("a breaker trips after max_failures + 1 returned error codes", "[detect_error_codes]") {
  circuit::manual_clock clock;
  auto b = make_breaker(circuit::detect_error_codes(), 2, clock);
  const auto connect = [](bool up) { return up ? std::error_code{} : refused(); };

  // The error code is handed back as it is; only the breaker counts it.
  CHECK(b->call(connect, false) == std::errc::connection_refused);
  CHECK_FALSE(b->call(connect, true));
  CHECK(b->call(connect, false) == std::errc::connection_refused);
  CHECK(b->metrics().total.failures == 2);
  CHECK(b->metrics().total.successes == 1);
  CHECK(b->current_state() == circuit::state::closed);

  clock.advance(1s);
  CHECK(b->call(connect, false));
  CHECK(b->metrics().total.failures == 3);
  CHECK(b->current_state() == circuit::state::open);
  CHECK_THROWS_AS(b->call(connect, true), circuit::open_circuit_error);

  // A zero error code from the probe closes it again.
  clock.advance(5s);
  CHECK_FALSE(b->call(connect, true));
  CHECK(b->current_state() == circuit::state::closed);
}

TEST_CASE("try_call reports a returned error code as failed and hands it back", "[detect_error_codes]") {
  circuit::manual_clock clock;
  auto b = make_breaker(circuit::detect_error_codes(), 0, clock);
  auto ok = b->try_call([] { return std::error_code{}; });
  CHECK(ok.has_value());
  CHECK_FALSE(ok.failed());
  CHECK_FALSE(ok.value());

  auto bad = b->try_call(refused);
  CHECK(bad.has_value());
  CHECK(bad.failed());
  CHECK(bad.value() == std::errc::connection_refused);
  CHECK(b->current_state() == circuit::state::open);  // max_failures = 0: the first trips

  const auto refusal = b->try_call(refused);
  CHECK(refusal.refused());
  CHECK(b->metrics().total.failures == 1);
}

TEST_CASE("a breaker counts std::errc, error conditions and expected-like results", "[detect_error_codes]") {
  circuit::manual_clock clock;
  auto b = make_breaker(circuit::detect_error_codes(), 10, clock);
  CHECK(b->call([] { return std::errc::timed_out; }) == std::errc::timed_out);
  (void)b->call([] { return std::errc{}; });
  (void)b->call([] { return std::make_error_condition(std::errc::host_unreachable); });
  (void)b->call([] { return std::error_condition{}; });
  CHECK(b->call([] { return result<int, std::error_code>::fail(refused()); }).error() == refused());
  CHECK(b->call([] { return result<int, std::error_code>::ok(7); }).value() == 7);
  CHECK(b->call([] { return db_error::busy; }) == db_error::busy);
  CHECK(b->metrics().total.failures == 4);
  CHECK(b->metrics().total.successes == 3);
  CHECK(b->metrics().window.failures == 4);
}

TEST_CASE("a breaker with detect_error_codes counts exceptions as failures and rethrows them",
          "[detect_error_codes]") {
  circuit::manual_clock clock;
  auto b = make_breaker(circuit::detect_error_codes(), 1, clock);
  CHECK_THROWS_AS(b->call([]() -> std::error_code { throw std::system_error(refused()); }), std::system_error);
  CHECK_THROWS_AS(b->call([] { throw std::logic_error("bug"); }), std::logic_error);
  CHECK(b->metrics().total.failures == 2);
  CHECK(b->current_state() == circuit::state::open);
}

TEST_CASE("a permit records error codes through detect_error_codes", "[detect_error_codes]") {
  circuit::manual_clock clock;
  auto b = make_breaker(circuit::detect_error_codes(), 1, clock);
  {
    auto g = b->try_guard();
    REQUIRE(g);
    g.record(refused());
    CHECK_FALSE(g);  // settled
  }
  b->try_guard().record(std::error_code{});
  b->try_guard().record(std::errc{});
  CHECK(b->metrics().total.failures == 1);
  CHECK(b->metrics().total.successes == 2);
  b->try_guard().record(std::errc::broken_pipe);
  CHECK(b->current_state() == circuit::state::open);
}

TEST_CASE("other_results_succeed counts results it cannot take as successes", "[detect_error_codes]") {
  // The same calls a breaker with detect_error_codes() refuses at compile
  // time (tests/compile_fail/unclassified_*.cpp) compile here and succeed.
  circuit::manual_clock clock;
  auto b = make_breaker(circuit::other_results_succeed(circuit::detect_error_codes()), 1, clock);

  CHECK(b->call([] { return 111; }) == 111);  // ECONNREFUSED as an errno: not classified
  CHECK(b->call([] { return http_response{refused(), "refused"}; }).body == "refused");
  b->try_guard().record(http_response{refused(), ""});
  b->try_guard().record(111);
  const auto r = b->try_call([] { return 111; });
  CHECK_FALSE(r.failed());
  CHECK(r.value() == 111);
  CHECK(b->try_call([] { return http_response{refused(), ""}; }).value_or(http_response{}).ec == refused());
  CHECK(b->metrics().total.successes == 6);
  CHECK(b->metrics().total.failures == 0);

  // What it can take is still classified, exceptions too.
  CHECK(b->call([] { return refused(); }) == std::errc::connection_refused);
  CHECK(b->metrics().total.failures == 1);
  CHECK_THROWS_AS(b->call([]() -> int { throw std::runtime_error("down"); }), std::runtime_error);
  CHECK(b->metrics().total.failures == 2);
  CHECK(b->current_state() == circuit::state::open);
}

TEST_CASE("other_results_succeed keeps the base predicate for exceptions", "[detect_error_codes]") {
  const auto p = circuit::other_results_succeed(circuit::detect_error_codes(circuit::failure_on<std::system_error>{}));
  CHECK(p(std::make_exception_ptr(std::system_error(refused()))));
  CHECK_FALSE(p(std::make_exception_ptr(std::logic_error("a bug of ours"))));
  CHECK(p(std::errc::timed_out));
  CHECK_FALSE(p(std::errc{}));
  // Wrapping twice changes nothing.
  STATIC_REQUIRE(std::is_same_v<decltype(circuit::other_results_succeed(p)), std::remove_const_t<decltype(p)>>);
}
