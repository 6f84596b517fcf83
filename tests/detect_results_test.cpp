// Tests of circuit/detect_results.hpp: a returned value can be a failure
// too (pycircuitbreaker detect_error).

#include <chrono>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <system_error>
#include <type_traits>

#include <circuit/circuit_breaker.hpp>
#include <circuit/consecutive_failures.hpp>
#include <circuit/detect_results.hpp>
#include <circuit/exception_predicates.hpp>
#include <circuit/manual_clock.hpp>

#include "catch.hpp"

using namespace std::chrono_literals;

namespace {

struct http_response {
  int status;
  std::string body;
};

constexpr auto is_5xx = [](const http_response& r) { return r.status >= 500; };

template <class Predicate>
using breaker = circuit::circuit_breaker<circuit::manual_clock, circuit::consecutive_failures, Predicate>;

template <class Predicate>
auto make_breaker(Predicate p, std::uint32_t threshold, circuit::manual_clock clock) {
  return std::make_unique<breaker<Predicate>>(circuit::consecutive_failures{.threshold = threshold},
                                              circuit::options{.name = "api"}, clock, std::move(p));
}

}  // namespace

TEST_CASE("a returned HTTP 500 counts as a failure through call", "[detect_results]") {
  circuit::manual_clock clock;
  auto b = make_breaker(circuit::detect_results(is_5xx), 2, clock);

  const auto r = b->call([] { return http_response{500, "oops"}; });
  // The value is handed back as it is; only the breaker counts it.
  CHECK(r.status == 500);
  CHECK(r.body == "oops");
  CHECK(b->metrics().total.failures == 1);

  CHECK(b->call([] { return http_response{200, "ok"}; }).status == 200);
  CHECK(b->metrics().total.successes == 1);
  CHECK(b->metrics().window.failures == 0);

  (void)b->call([] { return http_response{503, ""}; });
  (void)b->call([] { return http_response{502, ""}; });
  CHECK(b->current_state() == circuit::state::open);
}

TEST_CASE("detect_results alone treats every exception as a failure", "[detect_results]") {
  circuit::manual_clock clock;
  auto b = make_breaker(circuit::detect_results(is_5xx), 1, clock);
  CHECK_THROWS_AS(b->call([]() -> http_response { throw std::logic_error("bug"); }), std::logic_error);
  CHECK(b->current_state() == circuit::state::open);
}

TEST_CASE("detect_results combines a result predicate with failure_on", "[detect_results]") {
  circuit::manual_clock clock;
  auto b = make_breaker(circuit::detect_results(is_5xx, circuit::failure_on<std::runtime_error>{}), 5, clock);
  const auto pred = circuit::detect_results(is_5xx, circuit::failure_on<std::runtime_error>{});
  CHECK(pred(http_response{503, ""}));
  CHECK_FALSE(pred(http_response{404, ""}));
  CHECK(pred(std::make_exception_ptr(std::runtime_error("x"))));
  CHECK_FALSE(pred(std::make_exception_ptr(std::logic_error("x"))));

  CHECK_THROWS_AS(b->call([]() -> http_response { throw std::logic_error("not a failure"); }), std::logic_error);
  CHECK(b->metrics().total.successes == 1);
  CHECK_THROWS_AS(b->call([]() -> http_response { throw std::runtime_error("down"); }), std::runtime_error);
  (void)b->call([] { return http_response{504, ""}; });
  (void)b->call([] { return http_response{201, ""}; });
  CHECK(b->metrics().total.failures == 2);
  CHECK(b->metrics().total.successes == 2);
}

TEST_CASE("a result predicate may say a value is ignored", "[detect_results]") {
  const auto classify = [](const http_response& r) {
    if (r.status == 429) return circuit::outcome::ignored;
    return r.status >= 500 ? circuit::outcome::failure : circuit::outcome::success;
  };
  circuit::manual_clock clock;
  auto b = make_breaker(circuit::detect_results(classify), 2, clock);
  (void)b->call([] { return http_response{500, ""}; });
  (void)b->call([] { return http_response{429, "slow down"}; });
  // Ignored: neither ends the failure run nor adds to it.
  CHECK(b->metrics().total.ignored == 1);
  CHECK(b->metrics().window.failures == 1);
  CHECK(b->current_state() == circuit::state::closed);
  (void)b->call([] { return http_response{200, ""}; });
  CHECK(b->metrics().window.failures == 0);
  CHECK(b->metrics().total.successes == 1);
}

TEST_CASE("detect_results looks at results; other_results_succeed does not", "[detect_results]") {
  using detector = decltype(circuit::detect_results(is_5xx));
  using lenient = decltype(circuit::other_results_succeed(is_5xx));
  STATIC_REQUIRE(circuit::looks_at_results<detector>);
  using with_base = decltype(circuit::detect_results(is_5xx, circuit::failure_on<std::runtime_error>{}));
  STATIC_REQUIRE(circuit::looks_at_results<with_base>);
  STATIC_REQUIRE_FALSE(circuit::looks_at_results<lenient>);
  STATIC_REQUIRE_FALSE(circuit::looks_at_results<decltype(circuit::other_results_succeed(
                           is_5xx, circuit::failure_on<std::runtime_error>{}))>);
  using wrapped = decltype(circuit::other_results_succeed(circuit::detect_results(is_5xx)));
  STATIC_REQUIRE_FALSE(circuit::looks_at_results<wrapped>);
  STATIC_REQUIRE_FALSE(circuit::looks_at_results<circuit::any_exception>);
  STATIC_REQUIRE_FALSE(circuit::looks_at_results<circuit::failure_on<std::runtime_error>>);

  // Both take the same results: a breaker refuses the others at compile
  // time with the first, counts them as successes with the second.
  STATIC_REQUIRE(circuit::result_predicate_for<detector, http_response>);
  STATIC_REQUIRE_FALSE(circuit::result_predicate_for<detector, int>);
  STATIC_REQUIRE_FALSE(circuit::result_predicate_for<detector, void>);
  STATIC_REQUIRE(circuit::result_predicate_for<lenient, http_response>);
  STATIC_REQUIRE_FALSE(circuit::result_predicate_for<lenient, int>);
  STATIC_REQUIRE(circuit::error_predicate<lenient>);
}

TEST_CASE("a hand-written predicate looks at results when it declares looks_at_results", "[detect_results]") {
  struct marked {
    using looks_at_results = void;
    bool operator()(const std::exception_ptr& e) const { return static_cast<bool>(e); }
    bool operator()(const http_response& r) const { return r.status >= 500; }
  };
  struct marked_with_any_type {
    struct looks_at_results {};
    bool operator()(const std::exception_ptr& e) const { return static_cast<bool>(e); }
  };
  struct unmarked {
    bool operator()(const std::exception_ptr& e) const { return static_cast<bool>(e); }
    bool operator()(const http_response& r) const { return r.status >= 500; }
  };
  STATIC_REQUIRE(circuit::looks_at_results<marked>);
  STATIC_REQUIRE(circuit::looks_at_results<marked_with_any_type>);
  STATIC_REQUIRE(circuit::looks_at_results<const marked&>);
  STATIC_REQUIRE_FALSE(circuit::looks_at_results<unmarked>);
  CHECK(marked{}(http_response{503, ""}));
  CHECK_FALSE(unmarked{}(http_response{200, ""}));
  CHECK_FALSE(marked_with_any_type{}(std::exception_ptr{}));
}

TEST_CASE("with other_results_succeed, a result the predicate does not accept counts as a success",
          "[detect_results]") {
  circuit::manual_clock clock;
  auto b = make_breaker(circuit::other_results_succeed(is_5xx), 1, clock);
  CHECK(b->call([] { return 500; }) == 500);  // an int, not a response
  b->call([] {});
  b->try_guard().record(std::string("not a response"));
  CHECK(b->metrics().total.successes == 3);
  CHECK(b->current_state() == circuit::state::closed);

  // Responses and exceptions are still classified.
  (void)b->call([] { return http_response{200, ""}; });
  CHECK(b->metrics().total.successes == 4);
  (void)b->call([] { return http_response{503, ""}; });
  CHECK(b->metrics().total.failures == 1);
  CHECK(b->current_state() == circuit::state::open);
  b->reset();
  CHECK_THROWS_AS(b->call([]() -> int { throw std::logic_error("bug"); }), std::logic_error);
  CHECK(b->current_state() == circuit::state::open);
}

TEST_CASE("other_results_succeed keeps the base predicate for exceptions", "[detect_results]") {
  const auto with_base = circuit::other_results_succeed(is_5xx, circuit::failure_on<std::runtime_error>{});
  const auto wrapped =
      circuit::other_results_succeed(circuit::detect_results(is_5xx, circuit::failure_on<std::runtime_error>{}));
  STATIC_REQUIRE(std::is_same_v<decltype(with_base), decltype(wrapped)>);
  for (const auto& p : {with_base, wrapped}) {
    CHECK(p(std::make_exception_ptr(std::runtime_error("down"))));
    CHECK_FALSE(p(std::make_exception_ptr(std::logic_error("not a failure"))));
    CHECK(p(http_response{503, ""}));
    CHECK_FALSE(p(http_response{200, ""}));
  }
}

TEST_CASE("an std::error_code result is detected as a failure", "[detect_results]") {
  circuit::manual_clock clock;
  auto b =
      make_breaker(circuit::detect_results([](const std::error_code& ec) { return static_cast<bool>(ec); }), 2, clock);
  const auto connect = [](bool up) -> std::error_code {
    return up ? std::error_code{} : std::make_error_code(std::errc::connection_refused);
  };
  CHECK_FALSE(b->call(connect, true));
  CHECK(b->call(connect, false) == std::errc::connection_refused);
  CHECK(b->metrics().total.successes == 1);
  CHECK(b->metrics().total.failures == 1);
  (void)b->call(connect, false);
  CHECK(b->current_state() == circuit::state::open);
}

TEST_CASE("a permit records a value through the predicate", "[detect_results]") {
  circuit::manual_clock clock;
  auto b = make_breaker(circuit::detect_results(is_5xx), 2, clock);

  auto g = b->try_guard();
  REQUIRE(g);
  g.record(http_response{503, ""});
  CHECK_FALSE(g);  // settled
  CHECK(b->metrics().total.failures == 1);

  auto ok = b->try_guard();
  ok.record(http_response{200, ""});
  CHECK(b->metrics().total.successes == 1);

  b->try_guard().record(http_response{500, ""});
  b->try_guard().record(http_response{500, ""});
  CHECK(b->current_state() == circuit::state::open);
}

TEST_CASE("a throwing result predicate counts the call as a failure and propagates", "[detect_results]") {
  circuit::manual_clock clock;
  auto b = make_breaker(circuit::detect_results([](const http_response& r) -> bool {
                          if (r.status == 0) throw std::domain_error("no status");
                          return r.status >= 500;
                        }),
                        5, clock);
  CHECK_THROWS_AS(b->call([] { return http_response{0, ""}; }), std::domain_error);
  CHECK(b->metrics().total.failures == 1);
}
