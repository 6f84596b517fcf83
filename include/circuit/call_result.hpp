#pragma once
// What try_call() returns: the call's result, or why there is none, without
// an exception for a refusal.

#include <chrono>
#include <concepts>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include <circuit/open_circuit_error.hpp>
#include <circuit/state.hpp>

namespace circuit {

/// How one `try_call()` went: refused (the callable did not run), or ran
/// and returned (`R`, or nothing for `void`) or threw; and whether the
/// breaker counted it a failure. Never thrown from; `value()` throws on
/// purpose. A value type; not thread-safe.
///
///     auto r = breaker.try_call(fetch_price, sku);
///     int price = r.value_or(cached_price);   // Polly Fallback, resilience4j withFallback
template <class R>
class [[nodiscard]] call_result {
  static_assert(!std::is_reference_v<R>, "circuit::call_result<R>: R must not be a reference (return a pointer)");

 public:
  using value_type = R;

  /// The breaker refused; the callable did not run.
  [[nodiscard]] bool refused() const noexcept { return refused_; }
  /// The callable ran and the breaker counted a failure: it threw an
  /// exception the predicate calls a failure, its result was one, it was
  /// slow (`options::slow_call`), or the predicate itself threw.
  [[nodiscard]] bool failed() const noexcept { return failed_; }
  /// The callable returned (for `void`: returned normally).
  [[nodiscard]] bool has_value() const noexcept {
    if constexpr (std::is_void_v<R>) {
      return returned_;
    } else {
      return value_.has_value();
    }
  }
  /// The exception the callable threw, or the predicate's if that threw;
  /// empty otherwise.
  [[nodiscard]] const std::exception_ptr& error() const noexcept { return error_; }

  /// The returned value, also one counted a failure. Throws
  /// `open_circuit_error` when refused, and rethrows `error()` when there
  /// is one (the callable's exception, or the predicate's). Built with
  /// -fno-exceptions, those cases abort.
  decltype(auto) value() & { return get(*this); }
  decltype(auto) value() const& { return get(*this); }
  decltype(auto) value() && { return get(std::move(*this)); }

  /// The value when the call ran, returned and was not counted a failure;
  /// `fallback` otherwise (refused, failed, or threw).
  template <class U>
    requires(!std::is_void_v<R> && std::is_convertible_v<U &&, R>)
  [[nodiscard]] R value_or(U&& fallback) const& {
    if (ok()) return *value_;
    return static_cast<R>(std::forward<U>(fallback));
  }
  template <class U>
    requires(!std::is_void_v<R> && std::is_convertible_v<U &&, R>)
  [[nodiscard]] R value_or(U&& fallback) && {
    if (ok()) return std::move(*value_);
    return static_cast<R>(std::forward<U>(fallback));
  }

  /// Why a refused call was refused: the state, the time until a probe is
  /// admitted, the failure that opened the circuit, as `open_circuit_error`
  /// carries them (empty unless refused).
  [[nodiscard]] const std::optional<state>& refused_in() const noexcept { return refused_in_; }
  [[nodiscard]] const std::optional<std::chrono::nanoseconds>& retry_after() const noexcept { return retry_after_; }
  [[nodiscard]] const std::exception_ptr& last_failure() const noexcept { return last_failure_; }

  // ---- Made by the breaker ------------------------------------------------

  /// A refusal by the breaker named `name`.
  static call_result refusal(std::string_view name, state in, std::optional<std::chrono::nanoseconds> retry_after,
                             std::exception_ptr last_failure) {
    call_result r(name);
    r.refused_ = true;
    r.refused_in_ = in;
    r.retry_after_ = retry_after;
    r.last_failure_ = std::move(last_failure);
    return r;
  }
  /// As above, with a time until a probe is admitted (exactly
  /// `std::chrono::nanoseconds`: other durations take the overload above).
  // Stores the time itself: an optional built on the stack and copied in
  // stalls the store-to-load forwarding (+10 ns of an open refusal).
  template <class Nanoseconds>
    requires std::same_as<Nanoseconds, std::chrono::nanoseconds>
  static call_result refusal(std::string_view name, state in, Nanoseconds retry_after,
                             std::exception_ptr last_failure) {
    call_result r = refusal(name, in, std::nullopt, std::move(last_failure));
    r.retry_after_.emplace(retry_after);
    return r;
  }
  /// The callable threw `e`; `failed` as the breaker counted it.
  static call_result thrown(std::exception_ptr e, bool failed) noexcept {
    call_result r;
    r.error_ = std::move(e);
    r.failed_ = failed;
    return r;
  }
  /// The callable returned (`value...` is empty for void).
  template <class... V>
  static call_result returned(bool failed, V&&... value) {
    call_result r;
    if constexpr (std::is_void_v<R>) {
      r.returned_ = true;
    } else {
      r.value_.emplace(std::forward<V>(value)...);
    }
    r.failed_ = failed;
    return r;
  }
  /// After `returned()`: the predicate threw `e` while classifying.
  void predicate_threw(std::exception_ptr e) noexcept {
    error_ = std::move(e);
    failed_ = true;
  }

 private:
  call_result() = default;
  // Constructed, not assigned: assign() is an out-of-line replace.
  explicit call_result(std::string_view name) : name_(name) {}

  [[nodiscard]] bool ok() const noexcept { return !refused_ && !failed_ && !error_ && has_value(); }

  template <class Self>
  static decltype(auto) get(Self&& self) {
#if defined(__cpp_exceptions)
    if (self.refused_) throw open_circuit_error(self.name_, *self.refused_in_, self.retry_after_, self.last_failure_);
    if (self.error_) std::rethrow_exception(self.error_);
#else
    if (self.refused_ || self.error_) {
      std::fprintf(stderr, "circuit: call_result::value() of a call that was %s\n",
                   self.refused_ ? "refused" : "failed with an error");
      std::abort();
    }
#endif
    if constexpr (std::is_void_v<R>) {
      return;
    } else {
      return (*std::forward<Self>(self).value_);
    }
  }

  struct nothing {};
  [[no_unique_address]] std::conditional_t<std::is_void_v<R>, nothing, std::optional<R>> value_{};
  std::exception_ptr error_;
  bool refused_ = false;
  bool failed_ = false;
  bool returned_ = false;  // R = void only
  std::optional<state> refused_in_;
  std::optional<std::chrono::nanoseconds> retry_after_;
  std::exception_ptr last_failure_;
  std::string name_;  // refused only
};

}  // namespace circuit
