// Tests of circuit/call_timeout_error.hpp: the exception co_call throws when
// a call's deadline fires first. It is a std::system_error with
// std::errc::timed_out, and its message shows the deadline in the largest
// unit that shows it exactly. (tests/asio/ covers co_call throwing it.)

#include "catch.hpp"

#include <chrono>
#include <string>
#include <system_error>
#include <type_traits>

#include <circuit/call_timeout_error.hpp>

using namespace std::chrono_literals;

TEST_CASE("call_timeout_error is a std::system_error with errc::timed_out", "[call_timeout_error]") {
  STATIC_REQUIRE(std::is_base_of_v<std::system_error, circuit::call_timeout_error>);
  const circuit::call_timeout_error e("payments", 250ms);
  CHECK(e.code() == std::errc::timed_out);
  CHECK(e.code() == std::make_error_code(std::errc::timed_out));
  CHECK(e.name() == "payments");
  CHECK(e.deadline() == 250ms);
}

TEST_CASE("call_timeout_error's message names the breaker and the deadline", "[call_timeout_error]") {
  const std::string what = circuit::call_timeout_error("payments", 250ms).what();
  CHECK(what.find("circuit 'payments': call timed out after 250 ms") == 0);
}

TEST_CASE("call_timeout_error's message without a name says circuit", "[call_timeout_error]") {
  const circuit::call_timeout_error e("", 2s);
  CHECK(e.name().empty());
  CHECK(std::string(e.what()).find("circuit: call timed out after 2000 ms") == 0);
}

TEST_CASE("call_timeout_error shows the deadline in the largest unit that is exact", "[call_timeout_error]") {
  CHECK(std::string(circuit::call_timeout_error("c", 0ns).what()).find("after 0 ms") != std::string::npos);
  CHECK(std::string(circuit::call_timeout_error("c", 1500us).what()).find("after 1500 us") != std::string::npos);
  CHECK(std::string(circuit::call_timeout_error("c", 3us).what()).find("after 3 us") != std::string::npos);
  CHECK(std::string(circuit::call_timeout_error("c", 1001ns).what()).find("after 1001 ns") != std::string::npos);
  CHECK(std::string(circuit::call_timeout_error("c", 1min).what()).find("after 60000 ms") != std::string::npos);
}
