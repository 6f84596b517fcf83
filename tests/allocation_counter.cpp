// The one replacement of the global operator new/delete in circuit_tests:
// malloc/free underneath, and a count of every allocation (see
// allocation_counter.hpp). Every form is replaced, so the sized, aligned
// and nothrow forms are counted too and always pair with this file's delete.

#include "allocation_counter.hpp"

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <new>

#include <malloc.h>

namespace {

std::atomic<std::uint64_t> all_allocations{0};
std::atomic<std::int64_t> held_bytes{0};

// What a block takes from the heap: what malloc made usable, and its
// 8-byte chunk header (glibc's; a close guess for other mallocs).
std::int64_t footprint(void* p) noexcept { return static_cast<std::int64_t>(malloc_usable_size(p)) + 8; }

void release(void* p) noexcept {
  if (p == nullptr) return;
  held_bytes.fetch_sub(footprint(p), std::memory_order_relaxed);
  std::free(p);
}
// Constant-initialized and trivially destructible: usable from operator new
// at any point of a thread's life.
thread_local std::uint64_t this_thread_allocations = 0;

void* allocate(std::size_t n, std::size_t alignment) noexcept {
  all_allocations.fetch_add(1, std::memory_order_relaxed);
  ++this_thread_allocations;
  if (n == 0) n = 1;
  // aligned_alloc wants a size that is a multiple of the alignment.
  void* p = alignment <= alignof(std::max_align_t)
                ? std::malloc(n)
                : std::aligned_alloc(alignment, (n + alignment - 1) / alignment * alignment);
  if (p != nullptr) held_bytes.fetch_add(footprint(p), std::memory_order_relaxed);
  return p;
}

void* allocate_or_throw(std::size_t n, std::size_t alignment) {
  if (void* p = allocate(n, alignment)) return p;
  throw std::bad_alloc();
}

}  // namespace

namespace circuit_test {

std::uint64_t allocations() noexcept { return all_allocations.load(std::memory_order_relaxed); }

std::uint64_t thread_allocations() noexcept { return this_thread_allocations; }

std::int64_t heap_bytes() noexcept { return held_bytes.load(std::memory_order_relaxed); }

}  // namespace circuit_test

// NOLINTBEGIN(misc-new-delete-overloads)
void* operator new(std::size_t n) { return allocate_or_throw(n, 0); }
void* operator new[](std::size_t n) { return allocate_or_throw(n, 0); }
void* operator new(std::size_t n, std::align_val_t a) { return allocate_or_throw(n, static_cast<std::size_t>(a)); }
void* operator new[](std::size_t n, std::align_val_t a) { return allocate_or_throw(n, static_cast<std::size_t>(a)); }
void* operator new(std::size_t n, const std::nothrow_t&) noexcept { return allocate(n, 0); }
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept { return allocate(n, 0); }
void* operator new(std::size_t n, std::align_val_t a, const std::nothrow_t&) noexcept {
  return allocate(n, static_cast<std::size_t>(a));
}
void* operator new[](std::size_t n, std::align_val_t a, const std::nothrow_t&) noexcept {
  return allocate(n, static_cast<std::size_t>(a));
}

void operator delete(void* p) noexcept { release(p); }
void operator delete[](void* p) noexcept { release(p); }
void operator delete(void* p, std::size_t) noexcept { release(p); }
void operator delete[](void* p, std::size_t) noexcept { release(p); }
void operator delete(void* p, std::align_val_t) noexcept { release(p); }
void operator delete[](void* p, std::align_val_t) noexcept { release(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { release(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { release(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { release(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { release(p); }
void operator delete(void* p, std::align_val_t, const std::nothrow_t&) noexcept { release(p); }
void operator delete[](void* p, std::align_val_t, const std::nothrow_t&) noexcept { release(p); }
// NOLINTEND(misc-new-delete-overloads)
