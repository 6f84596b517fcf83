#pragma once
// The provided ErrorPredicates that classify exceptions by type.

#include <exception>

#include <circuit/outcome.hpp>

namespace circuit {

namespace detail {
#if defined(__cpp_exceptions)
template <class E>
[[nodiscard]] bool holds(const std::exception_ptr& e) noexcept {
  try {
    std::rethrow_exception(e);
  } catch (const E&) {
    return true;
  } catch (...) {
    return false;
  }
}
#endif

// True when `e` holds an exception derived from one of `E...`: matching is by
// inheritance (catch semantics), where python-circuit matches exact types.
template <class... E>
[[nodiscard]] bool holds_one_of([[maybe_unused]] const std::exception_ptr& e) noexcept {
#if defined(__cpp_exceptions)
  return e && (holds<E>(e) || ...);
#else
  return false;  // Without exceptions there is nothing to hold.
#endif
}
}  // namespace detail

/// The default: every exception is a failure; return values never are.
/// Thread-safe (stateless).
struct any_exception {
  [[nodiscard]] bool operator()(const std::exception_ptr& e) const noexcept { return static_cast<bool>(e); }
};

/// Only exceptions derived from one of `E...` are failures; any other
/// exception is rethrown unchanged and counts as a success (python-circuit
/// `error_types`, pycircuitbreaker `exception_blacklist`). Thread-safe.
template <class... E>
struct failure_on {
  static_assert(sizeof...(E) > 0, "circuit::failure_on<E...> needs at least one exception type");
  [[nodiscard]] bool operator()(const std::exception_ptr& e) const noexcept { return detail::holds_one_of<E...>(e); }
};

/// Every exception is a failure except those derived from one of `E...`,
/// which count as successes (pybreaker `exclude`, pycircuitbreaker
/// `exception_whitelist`). Thread-safe.
template <class... E>
struct failure_except {
  static_assert(sizeof...(E) > 0, "circuit::failure_except<E...> needs at least one exception type");
  [[nodiscard]] bool operator()(const std::exception_ptr& e) const noexcept {
    return e && !detail::holds_one_of<E...>(e);
  }
};

/// Exceptions derived from one of `E...` are `ignored`: they count neither
/// way and give back a half_open probe slot (resilience4j's ignored
/// exceptions). Every other exception is a failure. Thread-safe.
template <class... E>
struct ignore_exceptions {
  static_assert(sizeof...(E) > 0, "circuit::ignore_exceptions<E...> needs at least one exception type");
  [[nodiscard]] outcome operator()(const std::exception_ptr& e) const noexcept {
    if (!e) return outcome::success;
    return detail::holds_one_of<E...>(e) ? outcome::ignored : outcome::failure;
  }
};

}  // namespace circuit
