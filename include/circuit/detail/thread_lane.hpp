#pragma once
// Per-thread lanes: how a success is counted without a shared
// read-modify-write, on any number of cores, in objects that cost nothing
// for threads that never touched them.
//
// Lanes. Each thread that touches a breaker claims a lane for its lifetime
// (the lowest free one; given back when the thread exits). There are
// max_lanes() of them: at least 64, and at least the machine's hardware
// threads, so no two live threads share one while no more threads than
// cores use breakers, whatever other threads the process has. Threads
// beyond that share an overflow lane and pay a read-modify-write there.
//
// Cells. A striped object (a breaker's tallies, a set peer's pin count)
// keeps, per lane that touched it, one small cell of counters. Cells are
// carved from the lane's own arena (lane_arena), so a cache line of cells
// is only ever written by the one thread that owns the lane: the owner
// updates its cell with a plain load and store, and readers sum the cells.
// An object holds a directory of its cells by lane index (lane_cells),
// grown on demand like Java's LongAdder grows its cells: a thread's first
// touch adds its cell; an object no thread touched holds none.
//
// The directory is the only indirection on the hot path: load it, check
// the lane is within it, load the cell. Directories are replaced, never
// changed in place beyond filling an empty slot, and the replaced ones are
// kept until the object dies, so a reader never sees one freed.

#include <algorithm>
#include <array>
#include <atomic>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <new>
#include <thread>

namespace circuit::detail {

/// The size we pad to against false sharing.
inline constexpr std::size_t cache_line = 64;

/// `this_lane` of a thread that has not claimed a lane yet.
inline constexpr std::size_t unclaimed_lane = ~std::size_t{0};
/// `this_lane` of a thread that found every lane taken.
inline constexpr std::size_t overflow_lane = unclaimed_lane - 1;

/// How many exclusive lanes there are: at least 64 and at least the
/// hardware threads, a multiple of 64. Fixed at first use.
[[nodiscard]] inline std::size_t max_lanes() noexcept {
  static const std::size_t n = [] {
    const std::size_t hw = std::thread::hardware_concurrency();
    return (std::max<std::size_t>(hw, 64) + 63) / 64 * 64;
  }();
  return n;
}

// Bit i of word i / 64: lane i belongs to a live thread. Never freed (a
// thread may exit after static destruction).
[[nodiscard]] inline std::atomic<std::uint64_t>* lanes_taken() noexcept {
  static auto* const words = new std::atomic<std::uint64_t>[max_lanes() / 64] {};
  return words;
}

/// This thread's lane: an index below max_lanes(), or one of the two
/// markers above.
inline thread_local std::size_t this_lane = unclaimed_lane;

struct lane_owner {
  std::size_t lane = overflow_lane;
  ~lane_owner() {
    // From here on this thread (in later thread_local destructors) writes
    // through the overflow lane; release publishes its last plain stores
    // to the lane's next owner, whose claim acquires.
    this_lane = overflow_lane;
    if (lane < max_lanes()) {
      lanes_taken()[lane / 64].fetch_and(~(std::uint64_t{1} << (lane % 64)), std::memory_order_release);
    }
  }
};

/// Claims the lowest free lane for this thread (or the overflow lane).
[[gnu::noinline]] inline std::size_t claim_lane() noexcept {
  thread_local lane_owner owner;
  if (this_lane != unclaimed_lane) return this_lane;
  auto* words = lanes_taken();
  for (std::size_t i = 0; i < max_lanes() / 64 && owner.lane == overflow_lane; ++i) {
    auto taken = words[i].load(std::memory_order_relaxed);
    while (~taken != 0) {
      const auto bit = static_cast<std::size_t>(std::countr_one(taken));
      if (words[i].compare_exchange_weak(taken, taken | (std::uint64_t{1} << bit), std::memory_order_acquire,
                                         std::memory_order_relaxed)) {
        owner.lane = i * 64 + bit;
        break;
      }
    }
  }
  this_lane = owner.lane;
  return owner.lane;
}

/// The calling thread's lane, claimed on first use.
[[nodiscard]] inline std::size_t thread_lane() noexcept {
  const auto lane = this_lane;
  if (lane != unclaimed_lane) [[likely]] return lane;
  return claim_lane();
}

/// Where one lane's cells of `Bytes` bytes come from: chunks written only
/// by the lane's owner (so its cells share cache lines with nobody else's),
/// and a free list. The lock is taken when an object gets or gives back a
/// cell, never to update one.
template <std::size_t Bytes>
class lane_arena {
  static_assert(Bytes % alignof(std::atomic<std::uint64_t>) == 0 && Bytes >= sizeof(void*));

 public:
  /// The arena of `lane` (max_lanes() for the overflow lane's). Arenas are
  /// never destroyed: cells outlive any static destruction order.
  [[nodiscard]] static lane_arena& of(std::size_t lane) noexcept {
    static auto* const arenas = new lane_arena[max_lanes() + 1];
    return arenas[std::min(lane, max_lanes())];
  }

  /// `Bytes` bytes, aligned for 64-bit atomics. Throws std::bad_alloc.
  [[nodiscard]] void* take() {
    std::lock_guard lock(mutex_);
    if (free_ != nullptr) {
      void* p = free_;
      free_ = *static_cast<void**>(p);
      return p;
    }
    if (next_ == end_) {
      // A new chunk, its first line keeping the chunk list (so that leak
      // checkers see every chunk reachable).
      auto* chunk = static_cast<std::byte*>(::operator new(chunk_bytes, std::align_val_t{cache_line}));
      *reinterpret_cast<std::byte**>(chunk) = chunks_;
      chunks_ = chunk;
      next_ = chunk + cache_line;
      end_ = chunk + cache_line + (chunk_bytes - cache_line) / Bytes * Bytes;
    }
    void* p = next_;
    next_ += Bytes;
    return p;
  }

  /// Returns a cell taken from this arena.
  void give(void* p) noexcept {
    std::lock_guard lock(mutex_);
    *static_cast<void**>(p) = free_;
    free_ = p;
  }

 private:
  static constexpr std::size_t chunk_bytes = 4096;

  alignas(cache_line) std::mutex mutex_;
  void* free_ = nullptr;
  std::byte* next_ = nullptr;
  std::byte* end_ = nullptr;
  std::byte* chunks_ = nullptr;
};

// The directory growth lock of an object: one of a few, by address (taken
// once per object and thread, so a small pool serves all objects).
[[nodiscard]] inline std::mutex& growth_mutex(const void* object) noexcept {
  static std::array<std::mutex, 64> pool;
  return pool[(reinterpret_cast<std::uintptr_t>(object) / 64) % pool.size()];
}

/// One object's cells, `Fields` 64-bit counters each, by lane: the cell of
/// every lane that touched the object, and one overflow cell shared by the
/// threads without a lane. Thread-safe; 8 bytes while no thread touched it.
template <std::size_t Fields>
class lane_cells {
 public:
  /// A lane's counters. Written by the lane's owner only (the overflow
  /// cell: by read-modify-writes).
  using cell = std::array<std::atomic<std::uint64_t>, Fields>;

  lane_cells() noexcept = default;
  lane_cells(const lane_cells&) = delete;
  lane_cells& operator=(const lane_cells&) = delete;

  ~lane_cells() {
    directory* d = dir_.load(std::memory_order_relaxed);
    if (d == empty()) return;
    for (std::size_t i = 0; i < d->capacity; ++i) {
      if (cell* c = d->slots()[i].load(std::memory_order_relaxed)) arena::of(i).give(c);
    }
    if (cell* c = d->overflow.load(std::memory_order_relaxed)) arena::of(max_lanes()).give(c);
    while (d != nullptr) {  // the newest, then the ones it replaced
      directory* older = d->older;
      ::operator delete(d);
      d = older;
    }
  }

  /// This thread's own cell here, or nullptr when it has none yet or has
  /// no lane (then see mine_or_overflow()).
  [[nodiscard, gnu::always_inline]] cell* mine() const noexcept {
    const auto lane = this_lane;
    const directory* d = dir_.load(std::memory_order_acquire);
    if (lane < d->capacity) [[likely]] return d->slots()[lane].load(std::memory_order_acquire);
    return nullptr;
  }

  /// This thread's cell, made on its first touch; `overflow` true when it
  /// is the overflow cell (update it with read-modify-writes). Throws
  /// std::bad_alloc.
  [[gnu::noinline]] cell& mine_or_overflow(bool& overflow) {
    const auto lane = thread_lane();
    overflow = lane >= max_lanes();
    if (!overflow) {
      if (cell* c = mine()) return *c;
    }
    std::lock_guard lock(growth_mutex(this));
    directory* d = dir_.load(std::memory_order_relaxed);
    if (overflow) {
      if (cell* c = d->overflow.load(std::memory_order_relaxed)) return *c;
      if (d == empty()) d = grow(0);
      cell* c = make_cell(max_lanes());
      d->overflow.store(c, std::memory_order_release);
      return *c;
    }
    if (lane >= d->capacity) d = grow(lane + 1);
    cell* c = make_cell(lane);
    d->slots()[lane].store(c, std::memory_order_release);
    return *c;
  }

  /// Calls `visit(const cell&)` for every cell, the overflow one included.
  /// Cells are loaded with acquire: what their writers did before their
  /// last release store is visible.
  template <class Visit>
  void for_each(Visit&& visit) const {
    for_each_in(*dir_.load(std::memory_order_acquire), visit);
  }
  /// As above, the cells writable (for fields that only a lock's holder
  /// writes, beside the owner's).
  template <class Visit>
  void for_each(Visit&& visit) {
    for_each_in(*dir_.load(std::memory_order_acquire), visit);
  }

 private:
  using arena = lane_arena<sizeof(cell)>;

  struct directory {
    std::size_t capacity = 0;
    directory* older = nullptr;  // the one it replaced, freed with the object
    std::atomic<cell*> overflow{nullptr};

    [[nodiscard]] std::atomic<cell*>* slots() noexcept { return reinterpret_cast<std::atomic<cell*>*>(this + 1); }
    [[nodiscard]] const std::atomic<cell*>* slots() const noexcept {
      return reinterpret_cast<const std::atomic<cell*>*>(this + 1);
    }
  };
  static_assert(sizeof(directory) % alignof(std::atomic<cell*>) == 0);

  // The directory of objects no thread touched yet: capacity 0, no
  // overflow cell. Never written.
  [[nodiscard]] static directory* empty() noexcept {
    static constinit directory none{};
    return &none;
  }

  // Under growth_mutex: a copy of the directory with room for `lanes`
  // lanes, published. The old one stays readable until the object dies.
  directory* grow(std::size_t lanes) {
    directory* old = dir_.load(std::memory_order_relaxed);
    const std::size_t capacity = std::max(lanes, old->capacity == 0 ? std::size_t{1} : 2 * old->capacity);
    void* raw = ::operator new(sizeof(directory) + capacity * sizeof(std::atomic<cell*>));
    auto* d = new (raw) directory{};
    d->capacity = capacity;
    d->older = old == empty() ? nullptr : old;
    for (std::size_t i = 0; i < capacity; ++i) {
      new (&d->slots()[i]) std::atomic<cell*>(i < old->capacity ? old->slots()[i].load(std::memory_order_relaxed) : nullptr);
    }
    d->overflow.store(old->overflow.load(std::memory_order_relaxed), std::memory_order_relaxed);
    dir_.store(d, std::memory_order_release);
    return d;
  }

  template <class Directory, class Visit>
  static void for_each_in(Directory& d, Visit& visit) {
    for (std::size_t i = 0; i < d.capacity; ++i) {
      if (auto* c = d.slots()[i].load(std::memory_order_acquire)) visit(*c);
    }
    if (auto* c = d.overflow.load(std::memory_order_acquire)) visit(*c);
  }

  static cell* make_cell(std::size_t lane) { return new (arena::of(lane).take()) cell{}; }

  std::atomic<directory*> dir_{empty()};
};

/// `Fields` counters, striped over the lanes: increments scale with
/// threads; `sum()` is exact once the writers are quiet, and a moment's
/// approximation while they are not.
template <std::size_t Fields>
class striped_counters {
 public:
  /// `order` release, with `sum(field, acquire)`, lets the reader of a
  /// total see what the adding thread did before it (e.g. a pin count).
  // Always inlined: a closed-state success and an open-state refusal add
  // here, and GCC drops it from their inlined paths in large functions.
  [[gnu::always_inline]] void add(std::size_t field, std::uint64_t delta = 1,
                                  std::memory_order order = std::memory_order_relaxed) noexcept {
    // On the hot path: this thread's own cell, a plain load and store.
    if (auto* c = cells_.mine()) [[likely]] {
      auto& n = (*c)[field];
      n.store(n.load(std::memory_order_relaxed) + delta, order);
    } else {
      add_first(field, delta, order);
    }
  }

  [[nodiscard]] std::uint64_t sum(std::size_t field,
                                  std::memory_order order = std::memory_order_relaxed) const noexcept {
    std::uint64_t total = 0;
    cells_.for_each([&](const auto& c) { total += c[field].load(order); });
    return total;
  }

 private:
  // This thread's first add here, or it has no lane. Out of memory for the
  // one cell it needs is out of memory on a noexcept path: it terminates.
  [[gnu::noinline]] void add_first(std::size_t field, std::uint64_t delta, std::memory_order order) noexcept {
    bool overflow = false;
    auto& n = cells_.mine_or_overflow(overflow)[field];
    if (overflow) {
      n.fetch_add(delta, order);
    } else {
      n.store(n.load(std::memory_order_relaxed) + delta, order);
    }
  }

  lane_cells<Fields> cells_;
};

}  // namespace circuit::detail
