#pragma once
// Result-based failure detection: a returned value can be a failure too.

#include <exception>
#include <type_traits>
#include <utility>

#include <circuit/error_predicate.hpp>
#include <circuit/exception_predicates.hpp>

namespace circuit {

/// An ErrorPredicate that classifies exceptions with `Base` and return
/// values with `ResultPredicate` (pycircuitbreaker `detect_error`). Made by
/// `detect_results()`. Thread-safe as far as its two parts are.
template <class ResultPredicate, error_predicate Base = any_exception>
class result_detector {
 public:
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
template <class ResultPredicate>
[[nodiscard]] auto detect_results(ResultPredicate pred) {
  return result_detector<ResultPredicate, any_exception>(std::move(pred));
}

/// `base` classifies exceptions, `pred` return values.
template <class ResultPredicate, error_predicate Base>
[[nodiscard]] auto detect_results(ResultPredicate pred, Base base) {
  return result_detector<ResultPredicate, Base>(std::move(pred), std::move(base));
}

}  // namespace circuit
