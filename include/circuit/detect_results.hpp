#pragma once
// Result-based failure detection: a returned value can be a failure too,
// and a returned type nobody classifies is a compile error, not a success.

#include <exception>
#include <type_traits>
#include <utility>

#include <circuit/error_predicate.hpp>
#include <circuit/exception_predicates.hpp>

namespace circuit {

/// An ErrorPredicate that classifies exceptions with `Base` and return
/// values with `ResultPredicate` (pycircuitbreaker `detect_error`). Made by
/// `detect_results()` and `detect_error_codes()`. It looks at results
/// (`circuit::looks_at_results`): a breaker refuses, at compile time, a call
/// returning a type `ResultPredicate` cannot take; `other_results_succeed()`
/// lets such results count as successes instead. Thread-safe as far as its
/// two parts are.
template <class ResultPredicate, error_predicate Base = any_exception>
class result_detector {
 public:
  /// Marks the predicate as one that looks at results.
  using looks_at_results = void;

  explicit result_detector(ResultPredicate on_result, Base base = {})
      : on_result_(std::move(on_result)), base_(std::move(base)) {}

  /// Exceptions go to the base predicate.
  [[nodiscard]] decltype(auto) operator()(const std::exception_ptr& e) const { return base_(e); }

  /// Return values go to the result predicate, where it accepts them.
  template <class R>
    requires(!std::same_as<std::remove_cvref_t<R>, std::exception_ptr> &&
             std::is_invocable_v<const ResultPredicate&, const R&>)
  [[nodiscard]] decltype(auto) operator()(const R& result) const {
    static_assert(verdict<std::invoke_result_t<const ResultPredicate&, const R&>>,
                  "circuit::detect_results: the result predicate must return bool (true = failure) or circuit::outcome");
    return on_result_(result);
  }

 private:
  [[no_unique_address]] ResultPredicate on_result_;
  [[no_unique_address]] Base base_;
};

/// Every exception is a failure (`any_exception`), and so is every return
/// value for which `pred` says so:
///
///     circuit::circuit_breaker<std::chrono::steady_clock, circuit::sliding_window,
///                              decltype(circuit::detect_results(is_5xx))> b(...);
///
/// A call through `b` returning a type `pred` cannot take does not compile
/// (see `looks_at_results`; `other_results_succeed()` lets it pass).
/// Thread-safe as far as `pred` is.
template <class ResultPredicate>
[[nodiscard]] auto detect_results(ResultPredicate pred) {
  return result_detector<ResultPredicate, any_exception>(std::move(pred));
}

/// `base` classifies exceptions, `pred` return values. Thread-safe as far as
/// both are.
template <class ResultPredicate, error_predicate Base>
[[nodiscard]] auto detect_results(ResultPredicate pred, Base base) {
  return result_detector<ResultPredicate, Base>(std::move(pred), std::move(base));
}

/// A `result_detector` that lets the results its predicate cannot take
/// count as successes, where a `result_detector` makes the breaker refuse
/// them at compile time. `circuit::looks_at_results` is false for it. Made
/// by `other_results_succeed()`. Thread-safe as far as its two parts are.
template <class ResultPredicate, error_predicate Base = any_exception>
class lenient_result_detector {
 public:
  explicit lenient_result_detector(result_detector<ResultPredicate, Base> detector) : detector_(std::move(detector)) {}

  /// Exceptions go to the base predicate.
  [[nodiscard]] decltype(auto) operator()(const std::exception_ptr& e) const { return detector_(e); }

  /// Return values go to the result predicate, where it accepts them; the
  /// breaker counts any other result as a success.
  template <class R>
    requires std::is_invocable_v<const result_detector<ResultPredicate, Base>&, const R&>
  [[nodiscard]] decltype(auto) operator()(const R& result) const {
    return detector_(result);
  }

 private:
  [[no_unique_address]] result_detector<ResultPredicate, Base> detector_;
};

/// The explicit opt-out from compile-time checked results: like
/// `detect_results(pred)`, but a call returning a type `pred` cannot take
/// counts as a success (when it does not throw) instead of being refused at
/// compile time. For callables whose results say nothing about the peer:
///
///     // error codes are failures; an int, a string, a struct are successes
///     auto lenient = circuit::other_results_succeed(circuit::detect_error_codes());
///
/// Thread-safe as far as `pred` is.
template <class ResultPredicate>
[[nodiscard]] auto other_results_succeed(ResultPredicate pred) {
  return lenient_result_detector<ResultPredicate, any_exception>(detect_results(std::move(pred)));
}

/// `base` classifies exceptions, `pred` return values; results `pred` cannot
/// take count as successes. Thread-safe as far as both are.
template <class ResultPredicate, error_predicate Base>
[[nodiscard]] auto other_results_succeed(ResultPredicate pred, Base base) {
  return lenient_result_detector<ResultPredicate, Base>(detect_results(std::move(pred), std::move(base)));
}

/// The same detector (its exceptions still go to its own base predicate),
/// letting the results it cannot take count as successes. Thread-safe as far
/// as `detector` is.
template <class ResultPredicate, error_predicate Base>
[[nodiscard]] auto other_results_succeed(result_detector<ResultPredicate, Base> detector) {
  return lenient_result_detector<ResultPredicate, Base>(std::move(detector));
}

/// Already lenient: the same detector. Thread-safe as far as it is.
template <class ResultPredicate, error_predicate Base>
[[nodiscard]] auto other_results_succeed(lenient_result_detector<ResultPredicate, Base> detector) {
  return detector;
}

}  // namespace circuit
