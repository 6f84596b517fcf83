#pragma once
// A 4-byte mutex: std::mutex is 40 bytes on glibc, and a set of a million
// peers holds a million of them. The classic three-state futex lock
// (Drepper, "Futexes Are Tricky"), waiting with std::atomic::wait.
//
// Held only for a few dozen instructions (the breaker's transitions and
// failure bookkeeping), so a contended lock spins briefly before sleeping.

#include <atomic>
#include <cstdint>

namespace circuit::detail {

/// A mutex (the standard Lockable requirements) in 4 bytes. Not recursive.
class small_mutex {
 public:
  small_mutex() noexcept = default;
  small_mutex(const small_mutex&) = delete;
  small_mutex& operator=(const small_mutex&) = delete;

  void lock() noexcept {
    std::uint32_t expected = unlocked;
    if (state_.compare_exchange_strong(expected, locked, std::memory_order_acquire, std::memory_order_relaxed))
        [[likely]] {
      return;
    }
    lock_contended();
  }

  [[nodiscard]] bool try_lock() noexcept {
    std::uint32_t expected = unlocked;
    return state_.compare_exchange_strong(expected, locked, std::memory_order_acquire, std::memory_order_relaxed);
  }

  void unlock() noexcept {
    // Someone may sleep: wake one (it takes the lock as contended, so the
    // next unlock wakes the next).
    if (state_.exchange(unlocked, std::memory_order_release) == contended) state_.notify_one();
  }

 private:
  static constexpr std::uint32_t unlocked = 0, locked = 1, contended = 2;

  [[gnu::noinline]] void lock_contended() noexcept {
    for (int spin = 0; spin < 64; ++spin) {
      std::uint32_t expected = unlocked;
      if (state_.load(std::memory_order_relaxed) == unlocked &&
          state_.compare_exchange_weak(expected, locked, std::memory_order_acquire, std::memory_order_relaxed)) {
        return;
      }
#if defined(__x86_64__) || defined(__i386__)
      __builtin_ia32_pause();
#endif
    }
    // Marked contended, so that the holder's unlock wakes a sleeper.
    while (state_.exchange(contended, std::memory_order_acquire) != unlocked) {
      state_.wait(contended, std::memory_order_relaxed);
    }
  }

  std::atomic<std::uint32_t> state_{unlocked};
};

}  // namespace circuit::detail
