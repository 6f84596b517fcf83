#pragma once
// Runtime settings of one breaker, shared by every breaker type.

#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <variant>

namespace circuit {

namespace detail {
// Throws E(what). Built with -fno-exceptions, bad input is a programming
// error: it prints `what` and aborts.
template <class E>
[[noreturn]] void fail(const std::string& what) {
#if defined(__cpp_exceptions)
  throw E(what);
#else
  std::fprintf(stderr, "circuit: %s\n", what.c_str());
  std::abort();
#endif
}

[[noreturn]] inline void invalid(const char* owner, const char* field, const char* rule) {
  fail<std::invalid_argument>(std::string(owner) + "." + field + " " + rule);
}

inline void require_positive(std::chrono::nanoseconds d, const char* owner, const char* field) {
  if (d <= std::chrono::nanoseconds::zero()) invalid(owner, field, "must be a positive duration");
}

inline constexpr const char* too_long = "is too long: at most about 292 years fit in nanoseconds";

// `d` in nanoseconds, or invalid_argument when it does not fit (instead of
// the silent overflow of an implicit conversion).
template <class Rep, class Period>
[[nodiscard]] constexpr std::chrono::nanoseconds to_nanoseconds(std::chrono::duration<Rep, Period> d, const char* owner,
                                                                const char* field) {
  using D = std::chrono::duration<Rep, Period>;
  using ns = std::chrono::nanoseconds;
  if constexpr (std::is_floating_point_v<Rep>) {
    // Compared in long double: 2^63 ns is exact there.
    const auto n = std::chrono::duration<long double, std::nano>(d).count();
    if (!(n < 9223372036854775807.0L)) invalid(owner, field, too_long);
    if (!(n >= -9223372036854775807.0L)) invalid(owner, field, "is too far negative to fit in nanoseconds");
    return ns(static_cast<ns::rep>(n));
  } else if constexpr (std::ratio_greater_equal_v<std::nano, Period>) {
    return std::chrono::duration_cast<ns>(d);  // as fine or finer: never overflows
  } else {
    if (d > std::chrono::duration_cast<D>(ns::max())) invalid(owner, field, too_long);
    if (d < std::chrono::duration_cast<D>(ns::min())) invalid(owner, field, "is too far negative to fit in nanoseconds");
    return std::chrono::duration_cast<ns>(d);
  }
}
}  // namespace detail

/// The open state lasts `duration` every time. Takes any
/// `std::chrono::duration`; one that does not fit in nanoseconds throws
/// `std::invalid_argument` ("fixed.duration is too long") instead of
/// overflowing.
struct fixed {
  std::chrono::nanoseconds duration = std::chrono::seconds(10);

  constexpr fixed() noexcept = default;
  template <class Rep, class Period>
  constexpr fixed(std::chrono::duration<Rep, Period> d)  // implicit, so that fixed{10s} and = 10s read naturally
      : duration(detail::to_nanoseconds(d, "fixed", "duration")) {}
};

/// The open state grows on each consecutive re-trip from half_open:
/// `initial * multiplier^n`, capped at `max`, back to `initial` once the
/// circuit closes. With `jitter` j in [0, 1] the duration is drawn uniformly
/// from `[(1 - j) * d, d]` (1 = python-circuit's full jitter).
struct exponential {
  std::chrono::nanoseconds initial = std::chrono::seconds(1);
  double multiplier = 2.0;
  std::chrono::nanoseconds max = std::chrono::seconds(60);
  double jitter = 0.0;
  /// Seed of the breaker's jitter generator; unset draws one from
  /// `std::random_device`. Tests set it for exact, repeatable durations.
  std::optional<std::uint64_t> seed = {};
};

/// How long the open state lasts: `fixed{d}` or `exponential{...}`.
using open_duration = std::variant<fixed, exponential>;

/// Settings of one breaker. Checked when the breaker is constructed.
struct options {
  /// In errors, events, metrics and logs (the peer id in a set).
  std::string name = {};  // "= {}" spares users GCC -Wmissing-field-initializers on {.open_for = ...}
  /// How long open lasts before a probe is admitted.
  open_duration open_for = fixed{std::chrono::seconds(10)};
  /// Concurrent probes admitted in half_open.
  std::uint32_t half_open_max_calls = 1;
  /// Probe successes in a row that close the circuit
  /// (pycircuitbreaker `recovery_threshold`).
  std::uint32_t success_threshold = 1;
  /// A success taking longer than this, from admission to settlement,
  /// counts as a failure.
  std::optional<std::chrono::nanoseconds> slow_call = {};
  /// Time every call from admission to settlement, for `event::elapsed`
  /// (also done whenever `slow_call` is set). Costs two clock reads per call.
  bool time_calls = false;
  /// A half_open probe outstanding this long counts as a failed probe: at
  /// the first admission attempt or state query at or after it, the breaker
  /// re-opens (cause `probe_timed_out`, the backoff grows), and the probe's
  /// own outcome, when it comes, is stale. Unset: a probe may take as long
  /// as it likes.
  std::optional<std::chrono::nanoseconds> probe_timeout = {};
};

namespace detail {
// Probe counts live in 24 bits of the breaker's state word.
inline constexpr std::uint32_t max_probes = (1u << 24) - 1;
}  // namespace detail

/// Throws `std::invalid_argument` naming the first invalid field, e.g.
/// "options.half_open_max_calls must be between 1 and 16777215".
inline void validate(const options& o) {
  std::visit(
      [](const auto& d) {
        using D = std::decay_t<decltype(d)>;
        if constexpr (std::is_same_v<D, fixed>) {
          detail::require_positive(d.duration, "fixed", "duration");
        } else {
          detail::require_positive(d.initial, "exponential", "initial");
          detail::require_positive(d.max, "exponential", "max");
          if (!std::isfinite(d.multiplier) || d.multiplier < 1.0) {
            detail::invalid("exponential", "multiplier", "must be a finite number of at least 1");
          }
          if (d.max < d.initial) detail::invalid("exponential", "max", "must not be below initial");
          if (!(d.jitter >= 0.0 && d.jitter <= 1.0)) detail::invalid("exponential", "jitter", "must be within [0, 1]");
        }
      },
      o.open_for);
  if (o.half_open_max_calls == 0 || o.half_open_max_calls > detail::max_probes) {
    detail::invalid("options", "half_open_max_calls", "must be between 1 and 16777215");
  }
  if (o.success_threshold == 0) detail::invalid("options", "success_threshold", "must be at least 1");
  if (o.slow_call) detail::require_positive(*o.slow_call, "options", "slow_call");
  if (o.probe_timeout) detail::require_positive(*o.probe_timeout, "options", "probe_timeout");
}

}  // namespace circuit
