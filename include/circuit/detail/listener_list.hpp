#pragma once
// Listeners read without a lock: an immutable snapshot behind an atomic
// pointer, read inside a reader_gate section (compact: one pair of reader
// counters), so that a writer knows when no thread can still be calling
// into the snapshot it replaced, and frees it only then. A thread that is
// itself inside a listener (of any list) does not wait: it could wait for
// itself, or deadlock with a thread inside a listener of another list that
// waits for it. The old snapshot is then kept until a later writer or the
// destructor can free it.
//
// Each listener takes the kinds of event its event_filter names, and the
// list keeps the union of them in one byte (`wanted_`): a breaker asks
// `wants(kind)` before building an event, so a listener that takes no
// successes costs the success path nothing but that relaxed load.

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

#include <circuit/detail/reader_gate.hpp>
#include <circuit/event.hpp>

namespace circuit::detail {

class listener_list {
 public:
  using listener = std::function<void(const event&)>;

  listener_list() = default;
  listener_list(const listener_list&) = delete;
  listener_list& operator=(const listener_list&) = delete;
  ~listener_list() { delete current_.load(std::memory_order_relaxed); }

  /// A list that nobody subscribes to: what a breaker without listeners
  /// points to, so that asking it costs the same load as asking a real
  /// list. Never destroyed (breakers may outlive static destruction).
  [[nodiscard]] static const listener_list& none() {
    static const auto* const empty = new listener_list;
    return *empty;
  }

  /// True when a subscribed listener takes events of kind `k`: one relaxed
  /// load, the only cost a breaker pays per call for kinds nobody takes.
  /// (A listener subscribed concurrently may miss events meanwhile.)
  [[nodiscard, gnu::always_inline]] bool wants(event_kind k) const noexcept {
    return (wanted_.load(std::memory_order_relaxed) & event_filter::bit(k)) != 0;
  }

  /// Subscribes `fn` for the kinds in `filter`; returns its id.
  std::uint64_t add(listener fn, event_filter filter = event_filter::all) {
    std::unique_lock lock(writers_);
    auto next = std::make_unique<snapshot>();
    if (const auto* now = current_.load(std::memory_order_relaxed)) *next = *now;
    const auto id = ++last_id_;
    next->push_back({id, filter, std::make_shared<const listener>(std::move(fn))});
    publish(lock, next.release());
    return id;
  }

  /// Unsubscribes `id`. On return no other thread is inside its listener.
  void remove(std::uint64_t id) {
    std::unique_lock lock(writers_);
    const auto* now = current_.load(std::memory_order_relaxed);
    if (now == nullptr) return;
    auto next = std::make_unique<snapshot>();
    for (const auto& e : *now) {
      if (e.id != id) next->push_back(e);
    }
    publish(lock, next->empty() ? nullptr : next.release());
  }

  /// Calls every listener with `e`. A listener that throws is skipped over;
  /// returns how many threw.
  std::uint32_t dispatch(const event& e) const noexcept {
    const auto section = gate_.enter();
    ++dispatch_depth;
    std::uint32_t failed = 0;
    if (const auto* listeners = current_.load(std::memory_order_seq_cst)) {
      for (const auto& l : *listeners) {
        if (!l.filter.contains(e.kind)) continue;
#if defined(__cpp_exceptions)
        try {
          (*l.fn)(e);
        } catch (...) {
          ++failed;
        }
#else
        (*l.fn)(e);
#endif
      }
    }
    --dispatch_depth;
    gate_.leave(section);
    return failed;
  }

 private:
  // Snapshots share each callable: copying one while another thread runs
  // it would race with (and lose) the state a mutable listener keeps.
  struct entry {
    std::uint64_t id;
    event_filter filter;
    std::shared_ptr<const listener> fn;
  };
  using snapshot = std::vector<entry>;

  // Listener calls in progress on this thread, of any list. A thread inside
  // one must not wait for readers: it could wait for itself, or for a
  // thread inside another list's listener that waits for it.
  static inline thread_local std::uint32_t dispatch_depth = 0;

  [[nodiscard]] static bool inside_dispatch() noexcept { return dispatch_depth != 0; }

  // Swaps in `next` under writers_, then, without it, waits until no reader
  // can still see what was replaced, and frees that. Waiting outside
  // writers_ lets a listener on another thread subscribe meanwhile.
  void publish(std::unique_lock<std::mutex>& lock, const snapshot* next) {
    retired_.reserve(retired_.size() + 1);
    std::uint8_t wanted = 0;
    if (next != nullptr) {
      for (const auto& l : *next) wanted |= l.filter.bits();
    }
    // Widened before the new snapshot is seen, narrowed after: a kind
    // someone takes is never masked off while its listener is listed.
    wanted_.fetch_or(wanted, std::memory_order_seq_cst);
    retired_.emplace_back(current_.exchange(next, std::memory_order_seq_cst));
    wanted_.store(wanted, std::memory_order_seq_cst);
    if (inside_dispatch()) return;  // Freed by a later writer or the destructor.
    auto garbage = std::move(retired_);
    retired_.clear();
    lock.unlock();
    std::lock_guard drain(drain_);
    gate_.wait_for_readers();
  }

  std::atomic<const snapshot*> current_{nullptr};
  std::atomic<std::uint8_t> wanted_{0};  // union of the listed filters' kinds
  mutable compact_reader_gate gate_;
  std::mutex writers_;  // guards current_'s replacement, last_id_, retired_
  std::mutex drain_;    // one writer at a time waits for readers
  std::uint64_t last_id_ = 0;
  std::vector<std::unique_ptr<const snapshot>> retired_;
};

}  // namespace circuit::detail
