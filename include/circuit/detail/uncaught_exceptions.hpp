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
// once and keeps the address; other runtimes use the standard function.

#include <exception>

#if defined(__cpp_exceptions) && defined(__GLIBCXX__) && !defined(CIRCUIT_STD_UNCAUGHT_EXCEPTIONS)
#include <cstddef>
#include <cxxabi.h>
#define CIRCUIT_CXA_UNCAUGHT_EXCEPTIONS 1
#endif

namespace circuit::detail {

#if defined(CIRCUIT_CXA_UNCAUGHT_EXCEPTIONS)
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
[[nodiscard]] inline int uncaught_exceptions() noexcept {
#if defined(__cpp_exceptions)
  return std::uncaught_exceptions();
#else
  return 0;
#endif
}
#endif

}  // namespace circuit::detail
