#pragma once
// Counts calls to the global operator new, for tests that assert that a path
// does not allocate. The replaced operator new/delete that count live in
// exactly one translation unit, tests/allocation_counter.cpp.
//
// A thread's first call on a breaker (or a set) claims its lane and makes
// its cell there (detail/thread_lane.hpp), and a breaker's first failure or
// state change makes its bookkeeping: warm up first.

#include <cstdint>
#include <utility>

namespace circuit_test {

/// Every global operator new, of any form, on every thread so far.
[[nodiscard]] std::uint64_t allocations() noexcept;

/// The global operator new calls made by the calling thread so far.
[[nodiscard]] std::uint64_t thread_allocations() noexcept;

/// The heap held now by blocks from the global operator new, of every
/// thread: each block's usable size plus malloc's 8-byte header.
[[nodiscard]] std::int64_t heap_bytes() noexcept;

/// How many times the calling thread called a global operator new while
/// running `fn()`.
template <class F>
[[nodiscard]] std::uint64_t allocations_in(F&& fn) {
  const auto before = thread_allocations();
  std::forward<F>(fn)();
  return thread_allocations() - before;
}

}  // namespace circuit_test
