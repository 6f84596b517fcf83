#pragma once
// The ErrorPredicate policy: what counts as a failure.

#include <concepts>
#include <exception>
#include <type_traits>

#include <circuit/outcome.hpp>

namespace circuit {

/// A verdict an ErrorPredicate may return: `bool` (true = failure) or
/// `circuit::outcome`.
template <class V>
concept verdict = std::same_as<std::remove_cvref_t<V>, bool> || std::same_as<std::remove_cvref_t<V>, outcome>;

/// An ErrorPredicate is called with the `std::exception_ptr` of an exception
/// that escaped a call and says whether it is a failure. Where it is also
/// invocable with the call's return value (`const R&`), it classifies return
/// values too (result-based detection: an HTTP 503, an `std::error_code`).
template <class P>
concept error_predicate = std::copy_constructible<P> && requires(const P& p, std::exception_ptr e) {
  { p(e) } -> verdict;
};

/// True when `P` classifies return values of type `R`.
template <class P, class R>
concept result_predicate_for =
    !std::is_void_v<R> && !std::same_as<std::remove_cvref_t<R>, std::exception_ptr> &&
    requires(const P& p, const std::remove_cvref_t<R>& r) {
      { p(r) } -> verdict;
    };

/// True when `P` *looks at results*: every value a call returns must be one
/// `P` can classify (`result_predicate_for<P, R>`), or the breaker refuses
/// the call at compile time ("circuit: unclassified result"), so that a
/// result type the predicate was not written for cannot pass as a success
/// unnoticed. True for every `result_detector` (what `detect_results()` and
/// `detect_error_codes()` make) and for a hand-written predicate that
/// declares a member type named `looks_at_results` (any type):
///
///     struct http_policy {
///       using looks_at_results = void;
///       bool operator()(const std::exception_ptr&) const;
///       bool operator()(const http_response&) const;
///     };
///
/// `other_results_succeed()` makes a detector for which it is false.
template <class P>
concept looks_at_results = requires { typename std::remove_cvref_t<P>::looks_at_results; };

/// Turns either kind of verdict into an `outcome`.
[[nodiscard]] constexpr outcome to_outcome(bool is_failure) noexcept {
  return is_failure ? outcome::failure : outcome::success;
}
[[nodiscard]] constexpr outcome to_outcome(outcome o) noexcept { return o; }

}  // namespace circuit
