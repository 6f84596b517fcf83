// Tests of circuit/state.hpp and the event kinds of circuit/event.hpp: their
// names.

#include <cstdint>
#include <string_view>
#include <type_traits>

#include <circuit/event.hpp>
#include <circuit/state.hpp>

#include "catch.hpp"

using namespace std::string_view_literals;

TEST_CASE("every state has its name", "[state]") {
  CHECK(circuit::to_string(circuit::state::closed) == "closed"sv);
  CHECK(circuit::to_string(circuit::state::open) == "open"sv);
  CHECK(circuit::to_string(circuit::state::half_open) == "half_open"sv);
  CHECK(circuit::to_string(circuit::state::isolated) == "isolated"sv);
}

TEST_CASE("every event kind has its name", "[state][event]") {
  CHECK(circuit::to_string(circuit::event_kind::success) == "success"sv);
  CHECK(circuit::to_string(circuit::event_kind::failure) == "failure"sv);
  CHECK(circuit::to_string(circuit::event_kind::rejected) == "rejected"sv);
  CHECK(circuit::to_string(circuit::event_kind::state_change) == "state_change"sv);
}

TEST_CASE("names are available at compile time and never throw", "[state]") {
  STATIC_REQUIRE(circuit::to_string(circuit::state::half_open) == "half_open"sv);
  STATIC_REQUIRE(circuit::to_string(circuit::event_kind::state_change) == "state_change"sv);
  STATIC_REQUIRE(noexcept(circuit::to_string(circuit::state::closed)));
  STATIC_REQUIRE(noexcept(circuit::to_string(circuit::event_kind::success)));
}

TEST_CASE("a value outside the enumerators is named unknown rather than crashing", "[state]") {
  CHECK(circuit::to_string(static_cast<circuit::state>(200)) == "unknown"sv);
  CHECK(circuit::to_string(static_cast<circuit::event_kind>(200)) == "unknown"sv);
}

TEST_CASE("states and event kinds are one byte", "[state]") {
  STATIC_REQUIRE(sizeof(circuit::state) == 1);
  STATIC_REQUIRE(sizeof(circuit::event_kind) == 1);
  STATIC_REQUIRE(std::is_same_v<std::underlying_type_t<circuit::state>, std::uint8_t>);
}
