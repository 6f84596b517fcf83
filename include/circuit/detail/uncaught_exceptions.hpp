#pragma once
// std::uncaught_exceptions() at the cost of a thread-local load.
//
// A guard counts the exceptions in flight when it is made, so that at
// destruction it can tell whether its own scope is being left by one. The
// standard function is an out-of-line call into the C++ runtime; with a
// shared libstdc++ that is a PLT call and a __tls_get_addr, 4.5 ns here
// (benchmarks/README.md): more than the rest of a guarded call. The Itanium
// C++ ABI (section 2.2.2, exception handling) fixes where the count lives:
// the `unsigned int` after the first pointer of the thread's
// `__cxa_eh_globals`, whose address `__cxa_get_globals()` returns and which
// lives as long as the thread. libstdc++, libc++abi and libcxxrt all lay it
// out so, and Boost.Core and folly read it the same way. Each thread asks
// once and keeps the address; other standard libraries use the standard
// function.
//
// The same definition with and without -fno-exceptions (the runtime keeps
// the count either way). Mixing such translation units is not supported
// (README, "Calling through it"), but an inline function that differed here
// would silently turn failing guards into successes.

#include <exception>

#if defined(__GLIBCXX__)
#include <cxxabi.h>
#endif

namespace circuit::detail {

#if defined(__GLIBCXX__)
// Where this thread's count lives; null until it first asks.
inline thread_local const unsigned int* uncaught_count = nullptr;

[[gnu::noinline, gnu::cold]] inline const unsigned int* find_uncaught_count() noexcept {
  // __cxa_eh_globals { __cxa_exception* caughtExceptions; unsigned int uncaughtExceptions; ... }
  const auto* globals = reinterpret_cast<const unsigned char*>(abi::__cxa_get_globals());
  uncaught_count = reinterpret_cast<const unsigned int*>(globals + sizeof(void*));
  return uncaught_count;
}

/// The same as `std::uncaught_exceptions()`.
[[nodiscard]] inline int uncaught_exceptions() noexcept {
  const auto* count = uncaught_count;
  if (count == nullptr) [[unlikely]] count = find_uncaught_count();
  return static_cast<int>(*count);
}
#else
/// The same as `std::uncaught_exceptions()`.
[[nodiscard]] inline int uncaught_exceptions() noexcept { return std::uncaught_exceptions(); }
#endif

}  // namespace circuit::detail
