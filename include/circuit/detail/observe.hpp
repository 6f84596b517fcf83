#pragma once
// What the observability headers (prometheus.hpp, status_page.hpp) read of
// a breaker or a set: one plain row per breaker, taken from a metrics()
// snapshot, so that formatting never holds a breaker's lock.

#include <algorithm>
#include <charconv>
#include <chrono>
#include <concepts>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <unordered_set>
#include <vector>

#include <circuit/counter.hpp>
#include <circuit/metrics.hpp>
#include <circuit/state.hpp>

namespace circuit::detail {

// A breaker: something with a name, a state and a metrics() snapshot.
template <class B>
concept observable_breaker = requires(const B& b) {
  { b.name() } -> std::convertible_to<std::string_view>;
  { b.current_state() } -> std::same_as<state>;
  b.metrics();
  b.counter();
};

// A set: something that hands out its breakers one by one.
template <class S>
concept observable_set = requires { typename S::breaker_type; } && observable_breaker<typename S::breaker_type> &&
                         requires(const S& s) {
                           s.for_each([](const auto&, const typename S::breaker_type&) {});
                         };

// A counter with a failure-rate rule (failure_rate_window,
// failure_rate_last_calls): its figures have a meaningful failed share.
template <class C>
concept rate_counter = requires(const C& c) {
  { c.minimum_calls } -> std::convertible_to<std::uint64_t>;
  { c.failure_rate } -> std::convertible_to<double>;
};

// The breaker's clock reading: through `clock()` when the breaker offers
// it; otherwise a stateless clock (every std::chrono clock) read directly.
template <class B>
auto now_of(const B& b) {
  if constexpr (requires { b.clock().now(); }) {
    return b.clock().now();
  } else {
    using clock = typename B::clock_type;
    static_assert(std::is_empty_v<clock> && std::is_default_constructible_v<clock>,
                  "circuit observability: this breaker's clock has state (e.g. manual_clock) and the breaker has "
                  "no clock() accessor, so the time until the next probe cannot be read");
    return clock{}.now();
  }
}

// One breaker at one moment.
struct breaker_row {
  std::string name;  // as the breaker names itself (raw bytes)
  state current = state::closed;
  counter_figures window;
  call_counts total;
  call_counts since_transition;
  transition_counts transitions;
  // Failed share of the window's calls, 0..1; -1 below minimum_calls and
  // for counters without a rate rule.
  double failure_share = -1;
  // Slow share of the calls since the last state change, 0..1; -1 as above.
  double slow_share = -1;
  // Open: until a probe is admitted; isolated: forever (empty); else 0.
  std::optional<std::chrono::nanoseconds> probe_due = std::chrono::nanoseconds::zero();
};

template <class B>
breaker_row row_of(const B& b) {
  const auto m = b.metrics();  // the breaker's lock is held only inside this
  breaker_row r;
  r.name = std::string(std::string_view(b.name()));
  r.current = m.state;
  r.window = m.window;
  r.total = m.total;
  r.since_transition = m.since_transition;
  r.transitions = m.transitions;
  using counter_type = std::decay_t<decltype(b.counter())>;
  if constexpr (rate_counter<counter_type>) {
    const std::uint64_t minimum = b.counter().minimum_calls;
    const auto calls = m.window.failures + m.window.successes;
    if (calls > 0 && calls >= minimum) r.failure_share = static_cast<double>(m.window.failures) / calls;
    const auto recent = m.since_transition.successes + m.since_transition.failures;
    if (recent > 0 && recent >= minimum) r.slow_share = static_cast<double>(m.since_transition.slow) / recent;
  }
  if (m.state == state::isolated) {
    r.probe_due.reset();
  } else if (m.state == state::open && m.open_until) {
    const auto left = std::chrono::duration_cast<std::chrono::nanoseconds>(*m.open_until - now_of(b));
    r.probe_due = std::max(left, std::chrono::nanoseconds::zero());
  }
  return r;
}

// Rows of a breaker, or of every peer of a set sorted by name (a set's
// own order is its hash table's).
template <class T>
void append_rows(std::vector<breaker_row>& rows, const T& target) {
  if constexpr (observable_set<T>) {
    const auto first = rows.size();
    target.for_each([&](const auto&, const auto& b) { rows.push_back(row_of(b)); });
    std::sort(rows.begin() + static_cast<std::ptrdiff_t>(first), rows.end(),
              [](const breaker_row& a, const breaker_row& b) { return a.name < b.name; });
  } else {
    static_assert(observable_breaker<T>, "circuit observability: pass a circuit_breaker or a circuit_breaker_set");
    rows.push_back(row_of(target));
  }
}

// The length of the valid UTF-8 sequence at the start of `s`, or 0 with
// `*bad` = the bytes of its maximal invalid prefix (at least 1).
inline std::size_t utf8_sequence(std::string_view s, std::size_t* bad) noexcept {
  const auto c0 = static_cast<unsigned char>(s[0]);
  if (c0 < 0x80) return 1;
  std::size_t need = 0;
  unsigned char lo = 0x80, hi = 0xBF;  // the allowed range of the second byte
  if (c0 >= 0xC2 && c0 <= 0xDF) {
    need = 1;
  } else if (c0 >= 0xE0 && c0 <= 0xEF) {
    need = 2;
    if (c0 == 0xE0) lo = 0xA0;
    if (c0 == 0xED) hi = 0x9F;  // no surrogates
  } else if (c0 >= 0xF0 && c0 <= 0xF4) {
    need = 3;
    if (c0 == 0xF0) lo = 0x90;
    if (c0 == 0xF4) hi = 0x8F;  // at most U+10FFFF
  } else {
    *bad = 1;
    return 0;
  }
  for (std::size_t i = 1; i <= need; ++i) {
    const auto c = i < s.size() ? static_cast<unsigned char>(s[i]) : 0;
    const bool ok = i == 1 ? (c >= lo && c <= hi) : (c >= 0x80 && c <= 0xBF);
    if (!ok) {
      *bad = i;
      return 0;
    }
  }
  return need + 1;
}

// Appends `in` to `out` with every invalid UTF-8 sequence replaced by
// U+FFFD, passing each valid character to `put(out, character)`.
template <class Put>
void append_utf8(std::string& out, std::string_view in, Put&& put) {
  while (!in.empty()) {
    std::size_t bad = 0;
    const auto n = utf8_sequence(in, &bad);
    if (n == 0) {
      out += "\xEF\xBF\xBD";
      in.remove_prefix(bad);
    } else {
      put(out, in.substr(0, n));
      in.remove_prefix(n);
    }
  }
}

inline void append_uint(std::string& out, std::uint64_t v) {
  char buf[24];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  // (pointer, count), not an iterator pair: GCC 12 at -O3 warns falsely
  // (-Wrestrict) on the iterator overload once this is inlined.
  out.append(buf, static_cast<std::size_t>(r.ptr - buf));
}

// Shortest round-trip text; "+Inf", "-Inf" and "NaN" as Prometheus spells them.
inline void append_double(std::string& out, double v) {
  if (v == std::numeric_limits<double>::infinity()) {
    out += "+Inf";
  } else if (v == -std::numeric_limits<double>::infinity()) {
    out += "-Inf";
  } else if (v != v) {
    out += "NaN";
  } else {
    char buf[32];
    const auto r = std::to_chars(buf, buf + sizeof buf, v);
    out.append(buf, static_cast<std::size_t>(r.ptr - buf));
  }
}

// Hands out names that are distinct from every name handed out before:
// a repeat gets " #2", " #3", ... (the first free one) appended.
class unique_names {
 public:
  std::string take(std::string name) {
    if (seen_.insert(name).second) return name;
    for (std::uint64_t n = 2;; ++n) {
      std::string candidate = name + " #";
      append_uint(candidate, n);
      if (seen_.insert(candidate).second) return candidate;
    }
  }

 private:
  std::unordered_set<std::string> seen_;
};

inline double seconds(std::chrono::nanoseconds d) { return static_cast<double>(d.count()) / 1e9; }

}  // namespace circuit::detail
