#pragma once
// Result-based failure detection for the standard ways of returning an
// error: std::error_code, std::error_condition, error enums such as
// std::errc, and expected-like results.

#include <concepts>
#include <system_error>
#include <type_traits>
#include <utility>

#include <circuit/detect_results.hpp>
#include <circuit/error_predicate.hpp>
#include <circuit/exception_predicates.hpp>

namespace circuit {

/// A result that holds either a value or an error, and says which with
/// `has_value()`: `std::expected`, `tl::expected`, `boost::outcome` results
/// and the like. Only the shape is checked; `error()` is never called.
template <class T>
concept expected_like = requires(const T& r) {
  { r.has_value() } -> std::convertible_to<bool>;
  r.error();
};

/// An enumeration registered as an error code or error condition enum
/// (`std::is_error_code_enum`, `std::is_error_condition_enum`): `std::errc`,
/// `std::io_errc`, or your own. Its zero value `E{}` means "no error", as
/// for `std::error_code`.
template <class E>
concept error_enum = std::is_enum_v<E> && (std::is_error_code_enum_v<E> || std::is_error_condition_enum_v<E>);

/// The result predicate of `detect_error_codes()`: true (a failure) for a
/// non-zero `std::error_code` or `std::error_condition`, an `error_enum`
/// other than `E{}`, and an `expected_like` result that holds an error.
/// It takes these types exactly (no conversions), so that a result merely
/// convertible to an error code, or holding one as a member, is not
/// silently classified. Thread-safe (stateless).
struct holds_error {
  /// A non-zero error code.
  template <class T>
    requires std::same_as<T, std::error_code>
  [[nodiscard]] bool operator()(const T& ec) const noexcept {
    return static_cast<bool>(ec);
  }

  /// A non-zero error condition.
  template <class T>
    requires std::same_as<T, std::error_condition>
  [[nodiscard]] bool operator()(const T& condition) const noexcept {
    return static_cast<bool>(condition);
  }

  /// Any value but `E{}` (`std::errc{}` is "no error").
  template <error_enum E>
  [[nodiscard]] bool operator()(const E& e) const noexcept {
    return e != E{};
  }

  /// An expected-like result that holds an error rather than a value.
  template <expected_like T>
  [[nodiscard]] bool operator()(const T& result) const noexcept(noexcept(result.has_value())) {
    return !static_cast<bool>(result.has_value());
  }
};

/// An ErrorPredicate for calls that report failure by returning an error:
/// every exception is a failure (`any_exception`), and so is a returned
/// non-zero `std::error_code` or `std::error_condition`, a `std::errc` (or
/// other `error_enum`) other than `{}`, or an `expected_like` result holding
/// an error (`holds_error`). It looks at results: a breaker refuses, at
/// compile time, a call returning anything else (an `int`, a struct with an
/// error code inside); wrap it in `other_results_succeed()` to count such
/// results as successes instead.
///
///     circuit::circuit_breaker<std::chrono::steady_clock, circuit::sliding_window,
///                              decltype(circuit::detect_error_codes())> b;
///     std::error_code ec = b.call([&] { return socket.connect(); });
///
/// Thread-safe (stateless).
[[nodiscard]] inline auto detect_error_codes() { return detect_results(holds_error{}); }

/// The same with `base` classifying exceptions, e.g.
/// `detect_error_codes(circuit::failure_on<std::system_error>{})`.
/// Thread-safe as far as `base` is.
template <error_predicate Base>
[[nodiscard]] auto detect_error_codes(Base base) {
  return detect_results(holds_error{}, std::move(base));
}

}  // namespace circuit
