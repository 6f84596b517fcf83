#pragma once
// The scoped permit returned by guard() and try_guard().

#include <exception>
#include <utility>

#include <circuit/detail/state_word.hpp>
#include <circuit/detail/uncaught_exceptions.hpp>
#include <circuit/outcome.hpp>

namespace circuit {

/// A breaker's answer to "may I call?", settled exactly once.
///
/// An admitted permit (`explicit operator bool` true) must be settled with
/// `success()`, `failure()`, `failure(std::exception_ptr)` (classified by
/// the breaker's ErrorPredicate), `ignore()` or `record(result)` (result-based
/// detection). A permit left unsettled settles when it is destroyed: as a
/// success when its scope is left normally, as a failure when it is left by
/// an exception (the permit cannot see which exception: to classify it,
/// catch it and call `failure(std::current_exception())`). A half_open
/// probe slot is always given back.
///
/// Move-only; moving transfers the permit, and assigning over an unsettled
/// permit settles it first. Not thread-safe: one owner at a time (it may be
/// settled on another thread than the one that took it). It must be
/// settled or destroyed before its breaker is (builds without NDEBUG check
/// this and abort).
template <class Breaker>
class [[nodiscard]] permit {
 public:
  /// A refused permit.
  permit() noexcept = default;

  permit(permit&& other) noexcept
      : breaker_(std::exchange(other.breaker_, nullptr)), ticket_(other.ticket_), exceptions_(other.exceptions_) {}

  permit& operator=(permit&& other) noexcept {
    if (this != &other) {
      settle_on_exit();
      breaker_ = std::exchange(other.breaker_, nullptr);
      ticket_ = other.ticket_;
      exceptions_ = other.exceptions_;
    }
    return *this;
  }

  permit(const permit&) = delete;
  permit& operator=(const permit&) = delete;

  ~permit() {
    if (breaker_ != nullptr) [[unlikely]] settle_on_exit();
  }

  /// True when the call was admitted and is not settled yet.
  [[nodiscard]] explicit operator bool() const noexcept { return breaker_ != nullptr; }

  /// Records a success (a failure instead when it was a slow call).
  // Always inlined: the closed-state success is the hot path, and GCC
  // stops inlining it in programs with many call sites.
  [[gnu::always_inline]] void success() noexcept {
    if (auto* b = take()) b->settle_success(ticket_);
  }

  /// Records a failure.
  void failure() noexcept { settle(outcome::failure); }

  /// Records the exception `e` as the ErrorPredicate classifies it (an
  /// empty `e` is a plain failure). If the predicate itself throws, the call
  /// counts as a failure and the predicate's exception propagates.
  void failure(std::exception_ptr e) {
    if (auto* b = take()) (void)b->settle_error(ticket_, std::move(e));
  }

  /// Records a failure carrying `e` (in its event, and as
  /// `open_circuit_error::last_failure()` if it opens the circuit) without
  /// asking the ErrorPredicate: for failures the caller decided itself,
  /// such as its own deadline passing.
  void failure_unclassified(std::exception_ptr e) noexcept {
    if (auto* b = take()) (void)b->settle(ticket_, outcome::failure, {.error = std::move(e)});
  }

  /// Records an outcome that counts neither way.
  void ignore() noexcept { settle(outcome::ignored); }

  /// Records a return value as the ErrorPredicate classifies it (a success
  /// when the predicate does not take values of this type; but when it
  /// looks at results, such a type is a compile error: "circuit:
  /// unclassified result"). A throwing predicate is handled as in
  /// `failure(std::exception_ptr)`.
  template <class R>
  void record(const R& result) {
    if (auto* b = take()) (void)b->settle_result(ticket_, result);
  }

 private:
  friend Breaker;

  permit(Breaker& b, detail::ticket t) noexcept
      : breaker_(&b), ticket_(t), exceptions_(detail::uncaught_exceptions()) {
    b.permit_made();
  }

  // The breaker, once: settling starts here.
  [[gnu::always_inline]] Breaker* take() noexcept {
    auto* b = std::exchange(breaker_, nullptr);
    if (b != nullptr) b->permit_done();
    return b;
  }

  // For the breaker's call() and try_call(): they settle the ticket
  // themselves, on every path.
  detail::ticket release() noexcept {
    (void)take();
    return ticket_;
  }

  void settle(outcome o) noexcept {
    if (auto* b = take()) (void)b->settle(ticket_, o, {});
  }

  // Out of line: a permit settled explicitly (the usual case) skips it.
  [[gnu::noinline]] void settle_on_exit() noexcept {
    if (breaker_ == nullptr) return;
    if (detail::uncaught_exceptions() > exceptions_) {
      failure();
    } else {
      success();
    }
  }

  Breaker* breaker_ = nullptr;
  detail::ticket ticket_{};
  int exceptions_ = 0;
};

}  // namespace circuit
