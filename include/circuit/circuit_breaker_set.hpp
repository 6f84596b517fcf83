#pragma once
// Many breakers keyed by peer id, created on first use (python-circuit's
// CircuitBreakerSet).
//
// How lookups stay lock-free: peers live in a chained hash table whose links
// are never changed once published; a writer (a new peer, growth, erase,
// eviction) swaps in new links under a mutex and frees the old ones only
// after every reader that could see them has left (detail/reader_gate.hpp).
// A reader writes only to its own thread's cache lines, so threads working
// on different peers, or on the same peer, do not serialize. A peer in use
// is pinned (marked in the thread's hazard slot, or counted in the
// breaker's tally cells: see `pin`), and neither eviction nor erase()
// frees a pinned peer.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include <circuit/call_result.hpp>
#include <circuit/circuit_breaker.hpp>
#include <circuit/detail/listener_list.hpp>
#include <circuit/detail/peer_watcher.hpp>
#include <circuit/detail/reader_gate.hpp>
#include <circuit/detail/thread_lane.hpp>
#include <circuit/event.hpp>
#include <circuit/options.hpp>
#include <circuit/peer_key.hpp>
#include <circuit/state.hpp>
#include <circuit/subscription.hpp>

namespace circuit {

namespace detail {
// What an integration that follows a set's peers needs beyond the public API.
struct set_access {
  // `w` hears of every peer of `s`, those there now first; one watcher per
  // set at a time (a second throws std::logic_error).
  template <class Set>
  static void watch(Set& s, peer_watcher<typename Set::breaker_type>* w) {
    s.watch(w);
  }
  // `w` hears nothing more once this returns.
  template <class Set>
  static void unwatch(Set& s, peer_watcher<typename Set::breaker_type>* w) noexcept {
    s.unwatch(w);
  }
};
}  // namespace detail

/// Many breakers keyed by peer id, created on first use from one set of
/// defaults (by default python-circuit's: the 4th failure within 60 s opens
/// a peer's circuit for 10 s). Each breaker's name, in its events and errors, is its
/// peer id.
///
/// Thread-safe: every member may be called concurrently. Lookups take no
/// lock and write no shared cache line; creating, erasing and evicting
/// peers serialize on one mutex.
///
/// Peer ids: every lookup takes `Key`, what the transparent `Hash` and
/// `Key`'s `==` take as they are (`std::string_view`, `const char*` for
/// `std::string` keys), or a type that converts to `Key` without narrowing
/// (`circuit::key_for`); anything else is a compile error at the caller's
/// line. A `Key` must have a name for its breaker (`circuit::nameable_key`).
///
/// Lifetimes: a reference from `get()` stays valid until `erase()` removes
/// the peer (eviction never takes a peer that was handed out). A guard, and
/// a call in progress, pin their peer: eviction skips it, and `erase()`
/// defers its destruction until the last pin is gone. Guards must not
/// outlive the set.
template <class Breaker = circuit_breaker<>, class Key = std::string, class Hash = transparent_hash<Key>>
class circuit_breaker_set {
  static_assert(nameable_key<Key>,
                "circuit_breaker_set<Breaker, Key>: each peer's breaker is named after its Key, so Key needs a name: "
                "make it convert to std::string_view, give it a to_string(const Key&) found by argument-dependent "
                "lookup, or an operator<<(std::ostream&, const Key&) (see circuit::nameable_key)");

  struct node;

  // Keeps a peer alive while a caller uses it, in one of two ways:
  // - in this thread's hazard slot (detail/reader_gate.hpp): a lookup that
  //   finds its peer marks it there from inside its read section, a store
  //   to a line the section wrote anyway, and clears it after; writers look
  //   at every slot before they free a peer (pinned_locked());
  // - counted in the breaker's tally cells (breaker_access::pin), where the
  //   slot is taken (a call inside a call), the thread has no lane, the
  //   peer is new, or the pin may go to another thread (a guard).
  class pin {
   public:
    pin() noexcept = default;
    explicit pin(node* n, std::atomic<const void*>* hazard = nullptr) noexcept : node_(n), hazard_(hazard) {}
    pin(pin&& other) noexcept
        : node_(std::exchange(other.node_, nullptr)), hazard_(std::exchange(other.hazard_, nullptr)) {}
    pin& operator=(pin&& other) noexcept {
      if (this != &other) {
        release();
        node_ = std::exchange(other.node_, nullptr);
        hazard_ = std::exchange(other.hazard_, nullptr);
      }
      return *this;
    }
    [[gnu::always_inline]] ~pin() { release(); }

    node* get() const noexcept { return node_; }

   protected:
    // Before the pin may be released on another thread: counted instead of
    // held in this thread's slot. Counted before the slot is cleared
    // (release), so that a writer that sees the slot empty sees the count.
    void forget_thread() noexcept {
      if (hazard_ == nullptr) return;
      detail::breaker_access::pin(node_->breaker);
      std::exchange(hazard_, nullptr)->store(nullptr, std::memory_order_release);
    }

    [[gnu::always_inline]] void release() noexcept {
      // Release, paired with the writers' acquiring reads of the slots and
      // of the counts before a node is freed: the caller's last use of the
      // breaker happens before its deletion.
      auto* const n = std::exchange(node_, nullptr);
      if (n == nullptr) return;
      if (auto* const hazard = std::exchange(hazard_, nullptr)) [[likely]] {
        hazard->store(nullptr, std::memory_order_release);
      } else {
        detail::breaker_access::unpin(n->breaker);  // on this thread's lane: the lanes' sum is what counts
      }
    }
    node* node_ = nullptr;
    std::atomic<const void*>* hazard_ = nullptr;  // this thread's slot, holding node_; or counted
  };

 public:
  using breaker_type = Breaker;
  using key_type = Key;
  using hasher = Hash;
  using counter_type = typename Breaker::counter_type;
  using clock_type = typename Breaker::clock_type;
  using error_predicate_type = typename Breaker::error_predicate_type;
  /// What `metrics(peer)` returns (the breaker's `metrics()`).
  using metrics_type = typename Breaker::metrics_type;

  /// A permit on one peer's breaker that also keeps the peer in the set
  /// until it is settled and destroyed. Has the members of
  /// `Breaker::guard_type`, but does not convert to it: that would part the
  /// permit from its pin. Not thread-safe (one owner, like the permit).
  class guard_type : private pin, private Breaker::guard_type {
    using permit_type = typename Breaker::guard_type;

   public:
    using permit_type::operator bool;
    using permit_type::failure;
    using permit_type::failure_unclassified;
    using permit_type::ignore;
    using permit_type::record;
    using permit_type::success;

    guard_type() noexcept = default;
    guard_type(guard_type&&) noexcept = default;
    guard_type& operator=(guard_type&& other) noexcept {
      // Settle the old permit before unpinning its peer.
      static_cast<permit_type&>(*this) = std::move(static_cast<permit_type&>(other));
      static_cast<pin&>(*this) = std::move(static_cast<pin&>(other));
      return *this;
    }
    // Bases go in reverse order: the permit settles, then the pin goes.
    ~guard_type() = default;

   private:
    friend circuit_breaker_set;
    // A guard may move to another thread: its pin is counted, not held in
    // this thread's hazard slot.
    guard_type(pin p, permit_type g) noexcept : pin(std::move(p)), permit_type(std::move(g)) { this->forget_thread(); }
  };

  /// Validates and keeps the defaults that every new peer's breaker is made
  /// from; throws `std::invalid_argument` naming an invalid field. The
  /// defaults' `name` is not used: each breaker is named after its peer id.
  explicit circuit_breaker_set(counter_type counter = {}, circuit::options defaults = {}, clock_type clock = {},
                               error_predicate_type predicate = {})
      : clock_(std::move(clock)), predicate_(std::move(predicate)),
        config_(detail::breaker_access::config_for<Breaker>(std::move(counter), std::move(defaults), clock_)) {
    hazards_.reserve(detail::max_lanes());
    publish_locked(new table(initial_buckets));
  }

  circuit_breaker_set(const circuit_breaker_set&) = delete;
  circuit_breaker_set& operator=(const circuit_breaker_set&) = delete;

  /// Not thread-safe: no other member may be running, and no guard of the
  /// set may be left.
  ~circuit_breaker_set() {
    const auto* t = table_.load(std::memory_order_relaxed);
    walk_table(*t, std::memory_order_relaxed, [this](const link* l) {
      destroy_locked(l->n);
      delete l;
    });
    delete t;
    for (auto* z : zombies_) destroy_locked(z);
  }

  // ---- Peers ----------------------------------------------------------------

  /// The breaker of `peer`, made from the defaults on first use. Many
  /// threads asking for the same new peer at once get one breaker. The set
  /// cannot see what a reference is used for, so a peer handed out here is
  /// never evicted (only `erase()` removes it); calls by peer id
  /// (`call`, `guard`, `try_guard`, `try_call`, `wrap`) and the steering by
  /// peer id (`state`, `trip`, ...) leave it evictable. Throws
  /// `std::length_error` when a new peer cannot be made at `max_peers`.
  /// Thread-safe.
  template <class K>
    requires key_for<K, Key, Hash>
  [[nodiscard]] Breaker& get(const K& peer) {
    pin p = acquire(as_lookup(peer));
    node_of(p)->handed_out.store(true, std::memory_order_relaxed);
    return node_of(p)->breaker;
  }

  /// Gives `peer` its own counter and options, if it has no breaker yet. Returns its
  /// breaker, and whether it was made now (false: it existed, unchanged).
  /// Like `get()`, it hands out a reference: the peer is never evicted.
  /// The breaker is named after `peer`: a non-empty `opts.name` that
  /// differs from it throws `std::invalid_argument` (naming
  /// `options.name`), whether or not the peer exists; leave it empty.
  /// Invalid options for a new peer throw `std::invalid_argument` too, and
  /// `std::length_error` when it cannot be made at `max_peers`.
  /// Thread-safe.
  template <class K>
    requires key_for<K, Key, Hash>
  std::pair<Breaker&, bool> try_emplace(const K& peer, counter_type counter, circuit::options opts) {
    if (!opts.name.empty()) {
      auto id = name_of(Key(peer));
      if (opts.name != id) {
        detail::fail<std::invalid_argument>("circuit_breaker_set::try_emplace: options.name \"" + opts.name +
                                            "\" is not the peer id \"" + id +
                                            "\": a set names each breaker after its peer id (leave options.name "
                                            "empty)");
      }
    }
    bool made = false;
    pin p = acquire(as_lookup(peer), [&](const Key& key) {
      made = true;
      return std::make_unique<node>(
          key, detail::breaker_access::config_for<Breaker>(std::move(counter), std::move(opts), clock_), clock_,
          predicate_);
    });
    node_of(p)->handed_out.store(true, std::memory_order_relaxed);
    return {node_of(p)->breaker, made};
  }

  /// True when `peer` has a breaker. Makes none. Thread-safe.
  template <class K>
    requires key_for<K, Key, Hash>
  [[nodiscard]] bool contains(const K& peer) const {
    pin p = find_peer(peer);
    return node_of(p) != nullptr;
  }

  /// How many peers the set holds. Thread-safe (may be outdated at once).
  [[nodiscard]] std::size_t size() const noexcept { return size_.load(std::memory_order_relaxed); }

  /// Calls `fn(const Key&, const Breaker&)` for every peer, outside any
  /// lock; each peer is pinned during its call. Peers made or removed
  /// meanwhile may be missed or visited. Thread-safe.
  template <class F>
    requires std::invocable<F&, const Key&, const Breaker&>
  void for_each(F&& fn) const {
    for (auto& p : pin_all()) fn(node_of(p)->key, node_of(p)->breaker);
  }

  /// Calls `fn(const Key&, Breaker&)` for every peer, to steer them (say,
  /// `b.reset()` for some): as the const overload, but the breaker is
  /// mutable. The reference is for the call only (it does not hand the peer
  /// out as `get()` does): settle any permit taken on it before `fn`
  /// returns. Thread-safe.
  template <class F>
    requires std::invocable<F&, const Key&, Breaker&>
  void for_each(F&& fn) {
    for (auto& p : pin_all()) fn(node_of(p)->key, node_of(p)->breaker);
  }

  /// The peers whose circuit is open or isolated (not half_open, not
  /// disabled): what a readiness probe reports. Thread-safe.
  [[nodiscard]] std::vector<Key> open_circuits() const {
    std::vector<Key> open;
    for_each([&](const Key& key, const Breaker& b) {
      const auto s = b.current_state();
      if (s == circuit::state::open || s == circuit::state::isolated) open.push_back(key);
    });
    return open;
  }

  /// Removes `peer`. A caller still inside its breaker finishes on it; the
  /// breaker is destroyed once unpinned. Returns whether it was there.
  /// Thread-safe.
  template <class K>
    requires key_for<K, Key, Hash>
  bool erase(const K& peer) {
    const auto& key = as_lookup(peer);
    const auto h = hash_(key);
    std::unique_lock lock(writer_);
    node* n = find_locked(key, h);
    if (n == nullptr) return false;
    zombies_.reserve(zombies_.size() + 1);  // nothing to allocate once it is unlinked
    unlink_locked(n);
    gate_.wait_for_readers();
    retire_locked(n);
    return true;
  }

  /// Removes the peers that are closed, unused, hold no failure in their
  /// counter's window, were never handed out by `get()`/`try_emplace()`,
  /// and have recorded nothing for at least `idle_for`.
  /// Activity is sampled when the set looks (here and at the `max_peers`
  /// cap), so call it periodically: a peer goes once two looks spanning
  /// `idle_for` saw the same totals. Returns how many were removed.
  /// Thread-safe.
  std::size_t evict_idle(std::chrono::nanoseconds idle_for) {
    std::lock_guard lock(writer_);
    return evict_locked(idle_for, std::numeric_limits<std::size_t>::max());
  }

  /// Caps the number of peers (0, the default: no cap). Making a new peer
  /// at the cap first evicts the closed, unused peer that has been idle
  /// longest. When every peer is in use or not closed, the new peer is not
  /// made: `try_guard` and `try_call` refuse, the other members throw
  /// `std::length_error`; either way it counts in `capacity_refusals()`.
  /// Thread-safe.
  void set_max_peers(std::size_t max_peers) {
    std::lock_guard lock(writer_);
    max_peers_ = max_peers;
  }

  /// How many times a new peer could not be made because `max_peers` was
  /// reached with no peer to evict: refused `try_guard()` and `try_call()`
  /// calls, and the `std::length_error`s of the other members. Since the
  /// set was made. Thread-safe (may be outdated at once).
  [[nodiscard]] std::uint64_t capacity_refusals() const noexcept {
    return capacity_refusals_.load(std::memory_order_relaxed);
  }

  // ---- Calling through a peer -----------------------------------------------

#if defined(__cpp_exceptions)
  /// `get(peer).call(fn, args...)`, with the peer pinned for the call (and
  /// not handed out). Throws `open_circuit_error` when refused, and
  /// `std::length_error` when a new peer cannot be made at `max_peers`.
  /// Thread-safe.
  template <class K, class F, class... Args>
    requires key_for<K, Key, Hash>
  [[gnu::always_inline]] decltype(auto) call(const K& peer, F&& fn, Args&&... args) {
    pin p = acquire(as_lookup(peer));
    return node_of(p)->breaker.call(std::forward<F>(fn), std::forward<Args>(args)...);
  }

  /// A callable that forwards its arguments to `fn` through
  /// `call(peer, fn, args...)`: it keeps its own copy of `peer` (as a
  /// `Key`) and looks the peer up, making it if need be, on every call, so
  /// an erased or evicted peer is made afresh. It refers to this set, which
  /// must outlive it. Thread-safe to make; the callable is as thread-safe
  /// as `fn` (it calls `fn` as an lvalue, from any thread that calls it).
  template <class K, class F>
    requires key_for<K, Key, Hash>
  [[nodiscard]] auto wrap(const K& peer, F&& fn) {
    return [this, id = Key(peer), fn = std::forward<F>(fn)](auto&&... args) mutable -> decltype(auto) {
      return this->call(id, fn, std::forward<decltype(args)>(args)...);
    };
  }

  /// `get(peer).guard()` that also pins the peer (python-circuit's
  /// `context(peer)`); throws `open_circuit_error` when refused, and
  /// `std::length_error` when a new peer cannot be made at `max_peers`.
  /// Thread-safe (the guard itself has one owner).
  template <class K>
    requires key_for<K, Key, Hash>
  [[nodiscard]] guard_type guard(const K& peer) {
    pin p = acquire(as_lookup(peer));
    auto g = node_of(p)->breaker.guard();
    return guard_type(std::move(p), std::move(g));
  }
#endif

  /// `get(peer).try_call(fn, args...)`, with the peer pinned for the call
  /// (and not handed out): a `circuit::call_result` that says whether the
  /// call was refused, ran and failed, or returned. Never throws
  /// `open_circuit_error` nor `std::length_error`: when a new peer cannot be
  /// made at `max_peers` the result is a refusal (in state `open`, with no
  /// `retry_after()`), counted in `capacity_refusals()`. Thread-safe.
  template <class K, class F, class... Args>
    requires key_for<K, Key, Hash> && std::invocable<F&, Args...>
  auto try_call(const K& peer, F&& fn, Args&&... args)
      -> decltype(std::declval<Breaker&>().try_call(std::forward<F>(fn), std::forward<Args>(args)...)) {
    using result = decltype(std::declval<Breaker&>().try_call(std::forward<F>(fn), std::forward<Args>(args)...));
    pin p = find_or_create(as_lookup(peer));
    if (node_of(p) == nullptr) return result::refusal(name_of(Key(peer)), circuit::state::open, std::nullopt, nullptr);
    return node_of(p)->breaker.try_call(std::forward<F>(fn), std::forward<Args>(args)...);
  }

  /// `get(peer).try_guard()` that also pins the peer: a refused (false)
  /// guard when the breaker refuses, and also when a new peer cannot be
  /// made at `max_peers` (counted in `capacity_refusals()`). Throws only
  /// when memory runs out making a new peer. Thread-safe (the guard itself
  /// has one owner).
  template <class K>
    requires key_for<K, Key, Hash>
  [[nodiscard]] guard_type try_guard(const K& peer) {
    pin p = find_or_create(as_lookup(peer));
    if (node_of(p) == nullptr) return {};
    auto g = node_of(p)->breaker.try_guard();
    if (!g) return {};
    return guard_type(std::move(p), std::move(g));
  }

  // ---- Inspecting and steering one peer -------------------------------------
  // These make no peer, and leave none pinned or handed out: the peer is
  // pinned only while its breaker is read or steered. An unknown peer is
  // an empty optional, or false.

  /// `peer`'s state, as its breaker's `current_state()` (which moves open to
  /// half_open once the open duration has passed, announcing the change);
  /// empty when the set has no such peer. Thread-safe.
  template <class K>
    requires key_for<K, Key, Hash>
  [[nodiscard]] std::optional<circuit::state> state(const K& peer) const {
    pin p = find_peer(peer);
    if (node_of(p) == nullptr) return std::nullopt;
    return node_of(p)->breaker.current_state();
  }

  /// `peer`'s breaker's `metrics()`; empty when the set has no such peer.
  /// Thread-safe.
  template <class K>
    requires key_for<K, Key, Hash>
  [[nodiscard]] std::optional<metrics_type> metrics(const K& peer) const {
    pin p = find_peer(peer);
    if (node_of(p) == nullptr) return std::nullopt;
    return node_of(p)->breaker.metrics();
  }

  /// `peer`'s breaker's `trip()`: opens it now for its open duration.
  /// Returns false, doing nothing, when the set has no such peer.
  /// Thread-safe.
  template <class K>
    requires key_for<K, Key, Hash>
  bool trip(const K& peer) {
    return steer(peer, [](Breaker& b) { b.trip(); });
  }

  /// `peer`'s breaker's `isolate()`: holds it open until `reset(peer)`.
  /// Returns false, doing nothing, when the set has no such peer.
  /// Thread-safe.
  template <class K>
    requires key_for<K, Key, Hash>
  bool isolate(const K& peer) {
    return steer(peer, [](Breaker& b) { b.isolate(); });
  }

  /// `peer`'s breaker's `reset()`: closed, its counter cleared. Returns
  /// false, doing nothing, when the set has no such peer. Thread-safe.
  template <class K>
    requires key_for<K, Key, Hash>
  bool reset(const K& peer) {
    return steer(peer, [](Breaker& b) { b.reset(); });
  }

  /// `peer`'s breaker's `disable()`: every call to it passes and nothing
  /// moves its state until `reset(peer)` (an operator's bypass). A disabled
  /// peer is not evicted. Returns false, doing nothing, when the set has no
  /// such peer. Thread-safe.
  template <class K>
    requires key_for<K, Key, Hash>
  bool disable(const K& peer) {
    return steer(peer, [](Breaker& b) { b.disable(); });
  }

  /// `reset()` on every peer's breaker (each pinned meanwhile). A peer made
  /// during the call may be left out. Thread-safe.
  void reset_all() {
    for (auto& p : pin_all()) node_of(p)->breaker.reset();
  }

  // ---- Events ---------------------------------------------------------------

  /// Subscribes `listener` to the events of every peer, present and future,
  /// of the kinds in `filter`; `event.name` is the peer id. Called outside
  /// any lock, on the thread that caused the event. As with a breaker's
  /// `on_event`, a listener that takes no successes costs the closed-state
  /// success path nothing. Keep the returned subscription: destroying it
  /// unsubscribes. Thread-safe.
  template <class F>
    requires std::invocable<F&, const event&>
  [[nodiscard]] subscription on_event(F&& listener, event_filter filter = event_filter::all) {
    return detail::subscribe(events_, std::forward<F>(listener), filter);
  }

 private:
  friend struct detail::set_access;

  // A string-like key is its breaker's name; another keeps the name beside.
  struct unnamed {};
  using name_storage = std::conditional_t<detail::string_like<Key>, unnamed, std::string>;

  struct node {
    node(const Key& k, std::shared_ptr<const detail::breaker_config<counter_type>> config, const clock_type& clock,
         const error_predicate_type& predicate)
        : key(k), name(name_for(k)), breaker(detail::set_peer_t{}, std::move(config), name_view(), clock, predicate) {}
    const Key key;
    [[no_unique_address]] const name_storage name;
    Breaker breaker;  // named by a view of `key` or `name`

    static name_storage name_for(const Key& k) {
      if constexpr (detail::string_like<Key>) {
        return {};
      } else {
        return detail::naming::name_of(k);
      }
    }
    [[nodiscard]] std::string_view name_view() const noexcept {
      if constexpr (detail::string_like<Key>) {
        return std::string_view(key);
      } else {
        return name;
      }
    }
    // Set by get() and try_emplace(): a reference went out, and the set
    // cannot see what it is used for, so the peer is never evicted.
    std::atomic<bool> handed_out{false};
    // Idle tracking, under writer_.
    std::uint64_t last_activity = 0;
    std::int64_t quiet_since = 0;
  };

  // What a link says of its node's key, so that a lookup compares it without
  // following the link to the node: the hash, its top byte replaced by the
  // length of a string id (up to 255), and a string id of up to 16 bytes as
  // two words. The bucket is `tag & mask` (the hash's low bits: a table has
  // far fewer than 2^56 buckets).
  struct no_words {
    friend bool operator==(no_words, no_words) = default;
  };
  using id_words = std::conditional_t<detail::string_like<Key>, detail::short_id_words, no_words>;
  struct link_id {
    std::uint64_t tag;
    [[no_unique_address]] id_words words;
  };

  // Links are immutable once published; only bucket heads change. (40
  // bytes for a string id: the allocation a 16-byte link took, plus 16,
  // and the node is 16 bytes smaller without its hash.)
  struct link {
    node* n;
    const link* next;
    link_id id;
  };

  // A lookup by a string id of a string-keyed set compares the links'
  // lengths and words; a lookup by another type that the transparent Hash
  // and Key's == take compares the hash's low 56 bits, then the node's key.
  template <class K>
  static constexpr bool compares_words = detail::string_like<Key> && detail::string_like<K>;
  static constexpr auto tag_hash_bits = ~std::uint64_t{0} >> 8;

  // `key` (hashing to `h`), as its link says it.
  template <class K>
  [[gnu::always_inline]] static link_id id_of(const K& key, std::size_t h) noexcept {
    if constexpr (compares_words<K>) {
      const std::string_view id(key);
      const std::uint64_t length = std::min<std::size_t>(id.size(), 255);
      return {(static_cast<std::uint64_t>(h) & tag_hash_bits) | (length << 56), detail::short_id_words_of(id)};
    } else {
      return {static_cast<std::uint64_t>(h), {}};
    }
  }

  // The tags agree: in full, or in the hash's bits where a string-keyed
  // set is looked up by another type (which has no length to compare).
  template <class K>
  [[gnu::always_inline]] static bool same_tag(std::uint64_t stored, std::uint64_t wanted) noexcept {
    if constexpr (detail::string_like<Key> && !compares_words<K>) {
      return ((stored ^ wanted) & tag_hash_bits) == 0;
    } else {
      return stored == wanted;
    }
  }

  struct table {
    explicit table(std::size_t buckets)
        : mask(buckets - 1), buckets(std::make_unique<std::atomic<const link*>[]>(buckets)) {}
    std::size_t mask;
    std::unique_ptr<std::atomic<const link*>[]> buckets;
  };

  static constexpr std::size_t initial_buckets = 16;

  // ---- Walking the chains ---------------------------------------------------
  // Every walk of a hash chain but a lookup's (in_chain) goes through
  // walk_chain. The caller loads the
  // head with its own order: seq_cst inside a read section (the reader
  // gate's argument needs it), relaxed under writer_.

  // Calls `visit(link)` for each link from `l` on, until `visit` returns
  // false (a `visit` returning void sees them all). Each link's `next` is
  // read before its visit, so `visit` may free it. Returns false when
  // stopped early.
  template <class Visit>
  [[gnu::always_inline]] static bool walk_chain(const link* l, Visit&& visit) {
    while (l != nullptr) {
      const link* next = l->next;
      if constexpr (std::is_void_v<std::invoke_result_t<Visit&, const link*>>) {
        visit(l);
      } else if (!visit(l)) {
        return false;
      }
      l = next;
    }
    return true;
  }

  // walk_chain over every bucket of `t`, each head loaded with `order`.
  template <class Visit>
  static bool walk_table(const table& t, std::memory_order order, Visit&& visit) {
    for (std::size_t b = 0; b <= t.mask; ++b) {
      if (!walk_chain(t.buckets[b].load(order), visit)) return false;
    }
    return true;
  }

  // The node for `key` (its link_id `id`) in the chain from `l`, or null.
  // (Its own loop, not walk_chain: a hit returns at once.)
  template <class K>
  [[gnu::always_inline]] static node* in_chain(const link* l, const K& key, const link_id& id) {
    for (; l != nullptr; l = l->next) {
      if (same_tag<K>(l->id.tag, id.tag) && same_key(*l, key, id)) return l->n;
    }
    return nullptr;
  }

  // Key's == for a link whose tag matched: a short string id is decided by
  // the link's words (its length is in the tag); another key by its node.
  template <class K>
  [[gnu::always_inline]] static bool same_key(const link& at, const K& key, const link_id& id) {
    if constexpr (compares_words<K>) {
      const std::string_view wanted(key);
      if (wanted.size() <= detail::short_id_max) [[likely]] return at.id.words == id.words;
      return std::string_view(at.n->key) == wanted;
    } else {
      return at.n->key == key;
    }
  }

  static node* node_of(const pin& p) noexcept { return p.get(); }

  static std::string name_of(const Key& key) { return detail::naming::name_of(key); }


  [[nodiscard]] std::int64_t now_ns() const { return detail::now_ns(clock_); }

  // ---- Reading (lock-free) --------------------------------------------------

  template <class K>
  [[gnu::always_inline]] pin find(const K& key, std::size_t h) const {
    const auto section = gate_.enter();
    // The mask first: one that is current finds the buckets it belongs to;
    // an older (smaller) one, while the table grows, indexes the newer
    // buckets within bounds but maybe in the wrong place, so a miss asks
    // the table itself, whose mask and buckets agree.
    const auto mask = lookup_mask_.load(std::memory_order_seq_cst);
    const auto* buckets = lookup_buckets_.load(std::memory_order_seq_cst);
    const auto id = id_of(key, h);
    // (h & mask is tag & mask, without the tag's two operations before it.)
    node* found = in_chain(buckets[h & mask].load(std::memory_order_seq_cst), key, id);
    if (found == nullptr) [[unlikely]] {
      const auto* t = table_.load(std::memory_order_seq_cst);
      found = in_chain(t->buckets[h & t->mask].load(std::memory_order_seq_cst), key, id);
    }
    std::atomic<const void*>* hazard = nullptr;
    if (found != nullptr) {
      // In the hazard slot if it is free, before leaving (which publishes
      // it to writers); counted otherwise.
      if (section.hazard != nullptr && section.hazard->load(std::memory_order_relaxed) == nullptr) [[likely]] {
        hazard = section.hazard;
        // Release: a writer that reads this value also sees what this
        // thread did before (an earlier peer's last use, a guard's count);
        // a plain store on x86.
        hazard->store(found, std::memory_order_release);
      } else {
        detail::breaker_access::pin(found->breaker);
      }
    }
    gate_.leave(section);
    return pin(found, hazard);
  }

  // A lookup argument as the table compares it: as it is when the hash and
  // Key's == take it so (Key, or a string-like id of a string-keyed set),
  // otherwise converted to Key (an int for a long key), which then hashes
  // and compares as the key it stands for.
  template <class K>
  static decltype(auto) as_lookup(const K& key) {
    if constexpr (detail::direct_lookup<K, Key, Hash>) {
      return (key);
    } else {
      return Key(key);
    }
  }

  // The peer named `peer`, pinned, or an empty pin. Makes none.
  template <class K>
  pin find_peer(const K& peer) const {
    const auto& key = as_lookup(peer);
    return find(key, hash_(key));
  }

  // Runs `how` on `peer`'s breaker, pinned meanwhile; false when unknown.
  template <class K, class How>
  bool steer(const K& peer, How how) {
    pin p = find_peer(peer);
    if (node_of(p) == nullptr) return false;
    how(node_of(p)->breaker);
    return true;
  }

  // find_or_create(), throwing std::length_error when the peer cannot be
  // made at the max_peers cap.
  template <class K, class... Make>
  [[gnu::always_inline]] pin acquire(const K& key, Make&&... make) {
    pin p = find_or_create(key, std::forward<Make>(make)...);
    if (node_of(p) == nullptr) [[unlikely]] at_capacity();
    return p;
  }

  [[noreturn, gnu::noinline, gnu::cold]] static void at_capacity() {
    detail::fail<std::length_error>("circuit_breaker_set: max_peers reached and every peer is in use or not closed");
  }

  // The peer `key`, pinned, made from the defaults if it is new. Always
  // inlined with the lookup: the set's call path (the making is not).
  template <class K>
  [[gnu::always_inline]] pin find_or_create(const K& key) {
    const auto h = hash_(key);
    if (pin p = find(key, h); node_of(p) != nullptr) [[likely]] return p;
    return create(key, h, [this](const Key& k) { return std::make_unique<node>(k, config_, clock_, predicate_); });
  }

  // The peer `key`, pinned, made by `make` if it is new; an empty pin (and
  // a capacity refusal counted) when it is new and the max_peers cap leaves
  // no room. `key` is in its lookup form (as_lookup).
  template <class K, class Make>
  pin find_or_create(const K& key, Make&& make) {
    const auto h = hash_(key);
    if (pin p = find(key, h); node_of(p) != nullptr) return p;
    return create(key, h, std::forward<Make>(make));
  }

  // find_or_create() of a peer not found without the lock.
  template <class K, class Make>
  [[gnu::noinline]] pin create(const K& key, std::size_t h, Make&& make) {
    std::lock_guard lock(writer_);
    if (node* n = find_locked(key, h)) {
      detail::breaker_access::pin(n->breaker);
      return pin(n);
    }
    if (max_peers_ != 0 && size() >= max_peers_ && evict_locked(std::chrono::nanoseconds::min(), 1) == 0) {
      capacity_refusals_.fetch_add(1, std::memory_order_relaxed);
      return pin();
    }
    std::unique_ptr<node> made = make(Key(key));
    made->quiet_since = now_ns();
    detail::breaker_access::forward_events(made->breaker, *events_);
    detail::breaker_access::pin(made->breaker);
    pin p(made.get());  // unwinding from here unpins
    link_locked(made.get());
    made.release();  // the table owns it now
    if (watcher_ != nullptr) watcher_->added(node_of(p)->breaker);
    return p;
  }

  // ---- Writing (under writer_) ----------------------------------------------

  template <class K>
  node* find_locked(const K& key, std::size_t h) const noexcept {
    const auto* t = table_.load(std::memory_order_relaxed);
    return in_chain(t->buckets[h & t->mask].load(std::memory_order_relaxed), key, id_of(key, h));
  }

  // `n`'s key as its link says it (hashed again: writers only).
  link_id id_of_node(const node& n) const { return id_of(n.key, hash_(n.key)); }

  // Makes `t` the table, for lookups too: its buckets before its mask
  // (see find()).
  void publish_locked(table* t) noexcept {
    table_.store(t, std::memory_order_seq_cst);
    lookup_buckets_.store(t->buckets.get(), std::memory_order_seq_cst);
    lookup_mask_.store(t->mask, std::memory_order_seq_cst);
  }

  // Throws only before `n` is linked (out of memory); a failed growth
  // leaves the table as it was, just fuller.
  void link_locked(node* n) {
    auto* t = table_.load(std::memory_order_relaxed);
    const auto id = id_of_node(*n);
    auto& head = t->buckets[id.tag & t->mask];
    head.store(new link{n, head.load(std::memory_order_relaxed), id}, std::memory_order_seq_cst);
    if (size_.fetch_add(1, std::memory_order_relaxed) + 1 > t->mask + 1) {
#if defined(__cpp_exceptions)
      try {
        grow_locked();
      } catch (const std::bad_alloc&) {
      }
#else
      grow_locked();
#endif
    }
  }

  // Doubles the buckets: new links for every node, then the old table and
  // links go once no reader can see them.
  void grow_locked() {
    const auto* old = table_.load(std::memory_order_relaxed);
    auto next = std::make_unique<table>((old->mask + 1) * 2);
    walk_table(*old, std::memory_order_relaxed, [&](const link* l) {
      auto& head = next->buckets[l->id.tag & next->mask];
      head.store(new link{l->n, head.load(std::memory_order_relaxed), l->id}, std::memory_order_relaxed);
    });
    publish_locked(next.release());
    gate_.wait_for_readers();
    walk_table(*old, std::memory_order_relaxed, [](const link* l) { delete l; });
    delete old;
  }

  // Takes `n` out of its chain: the links before it are copied, the rest
  // shared. The replaced links (those copied, and `n`'s) wait in
  // retired_links_ for the caller's wait_for_readers() and
  // free_retired_links_locked(). The copies are all made before anything
  // is published or retired: running out of memory leaves the table as it
  // was.
  void unlink_locked(node* n) {
    auto* t = table_.load(std::memory_order_relaxed);
    auto& head = t->buckets[id_of_node(*n).tag & t->mask];
    const link* first = head.load(std::memory_order_relaxed);
    const link* rebuilt = nullptr;
    const link** tail = &rebuilt;
    const link* found = nullptr;
    walk_chain(first, [&](const link* l) {
      if (l->n == n) {
        found = l;
        return false;
      }
      auto* copy = new link{l->n, nullptr, l->id};
      *tail = copy;
      tail = &copy->next;
      return true;
    });
    *tail = found->next;
    head.store(rebuilt, std::memory_order_seq_cst);
    walk_chain(first, [&](const link* l) {
      retired_links_.push_back(l);
      return l != found;
    });
    size_.fetch_sub(1, std::memory_order_relaxed);
  }

  // After wait_for_readers(): no reader can reach the unlinked links.
  void free_retired_links_locked() noexcept {
    for (const auto* l : retired_links_) delete l;
    retired_links_.clear();
  }

  // After wait_for_readers(): frees the unlinked links, and the node once no
  // caller is inside it.
  // (zombies_ has room for `n`: erase() reserved it.)
  void retire_locked(node* n) noexcept {
    free_retired_links_locked();
    zombies_.push_back(n);
    reap_locked();
  }

  // Every node is destroyed here (under writer_, or in the destructor).
  void destroy_locked(node* n) noexcept {
    if (watcher_ != nullptr) watcher_->removing(n->breaker);
    delete n;
  }

  void watch(detail::peer_watcher<Breaker>* w) {
    std::lock_guard lock(writer_);
    if (watcher_ != nullptr) detail::fail<std::logic_error>("circuit_breaker_set: a second peer watcher");
    watcher_ = w;
    walk_table(*table_.load(std::memory_order_relaxed), std::memory_order_relaxed,
               [w](const link* l) { w->added(l->n->breaker); });
    for (node* z : zombies_) w->added(z->breaker);
  }

  void unwatch(detail::peer_watcher<Breaker>* w) noexcept {
    std::lock_guard lock(writer_);
    if (watcher_ == w) watcher_ = nullptr;
  }

  void reap_locked() noexcept {
    if (zombies_.empty()) return;
    read_hazards_locked();
    std::erase_if(zombies_, [&](node* z) {
      if (pinned_locked(z)) return false;
      destroy_locked(z);
      return true;
    });
  }

  // Reads every thread's hazard slot into hazards_, for pinned_locked():
  // before the counts that it reads (see pin::forget_thread()). For a peer
  // that no reader can find any more (unlinked, then wait_for_readers()),
  // what it says stays true: nobody can mark the peer again. No allocation
  // (reserved for every lane).
  void read_hazards_locked() noexcept {
    hazards_.clear();
    detail::reader_gate::hazards([&](const void* p) { hazards_.push_back(p); });
  }

  // A caller is inside `n`: a hazard slot held it at read_hazards_locked(),
  // or it is counted.
  bool pinned_locked(const node* n) const noexcept {
    return std::find(hazards_.begin(), hazards_.end(), static_cast<const void*>(n)) != hazards_.end() ||
           detail::breaker_access::pins(n->breaker) != 0;
  }

  // True when `n` may go: closed, no failure in its counter's window (that
  // would let a flapping peer escape tripping), not handed out by get(),
  // and no caller inside.
  template <class Snapshot>
  bool evictable_locked(node* n, const Snapshot& m) const noexcept {
    return m.state == circuit::state::closed && m.window.failures == 0 && !n->handed_out.load(std::memory_order_relaxed) &&
           !pinned_locked(n);
  }

  // Evicts up to `limit` evictable peers quiet for at least `idle_for`,
  // idlest first. Peers that stopped qualifying by the time no reader can
  // reach them (pinned, tripped) are put back.
  std::size_t evict_locked(std::chrono::nanoseconds idle_for, std::size_t limit) {
    reap_locked();
    const auto now = now_ns();
    std::vector<node*> idle;
    read_hazards_locked();  // for a first choice, checked again once unlinked
    walk_table(*table_.load(std::memory_order_relaxed), std::memory_order_relaxed, [&](const link* l) {
      node* n = l->n;
      const auto m = detail::breaker_access::metrics_without_lazy_changes(n->breaker);
      const auto activity = m.total.successes + m.total.failures + m.total.ignored + m.total.rejections;
      if (activity != n->last_activity) {
        n->last_activity = activity;
        n->quiet_since = now;
      }
      const bool quiet_enough = idle_for == std::chrono::nanoseconds::min() ||
                                (now >= n->quiet_since && now - n->quiet_since >= idle_for.count());
      if (quiet_enough && evictable_locked(n, m)) idle.push_back(n);
    });
    std::sort(idle.begin(), idle.end(), [](const node* a, const node* b) { return a->quiet_since < b->quiet_since; });
    if (idle.size() > limit) idle.resize(limit);
    if (idle.empty()) return 0;
    for (node* n : idle) unlink_locked(n);
    gate_.wait_for_readers();
    free_retired_links_locked();
    // A reader may have pinned a peer, or a call through it tripped it,
    // between the check and the unlink.
    std::size_t evicted = 0;
    read_hazards_locked();
    for (node* n : idle) {
      if (evictable_locked(n, detail::breaker_access::metrics_without_lazy_changes(n->breaker))) {
        destroy_locked(n);
        ++evicted;
      } else {
        link_locked(n);
      }
    }
    return evicted;
  }

  [[no_unique_address]] clock_type clock_;
  [[no_unique_address]] error_predicate_type predicate_;
  [[no_unique_address]] Hash hash_;
  // What every peer made from the defaults shares (checked once).
  std::shared_ptr<const detail::breaker_config<counter_type>> config_;

  std::atomic<table*> table_{nullptr};
  // The table's buckets and mask, for find(): read side by side, without
  // the load of table_ before them (publish_locked()).
  std::atomic<const std::atomic<const link*>*> lookup_buckets_{nullptr};
  std::atomic<std::size_t> lookup_mask_{0};
  std::atomic<std::size_t> size_{0};
  [[no_unique_address]] detail::reader_gate gate_;  // the process-wide readers of sets

  std::mutex writer_;
  std::size_t max_peers_ = 0;
  std::atomic<std::uint64_t> capacity_refusals_{0};  // written under writer_, read without it
  std::vector<const link*> retired_links_;
  std::vector<node*> zombies_;  // erased while pinned
  std::vector<const void*> hazards_;  // read_hazards_locked(), under writer_
  detail::peer_watcher<Breaker>* watcher_ = nullptr;  // under writer_

  std::shared_ptr<detail::listener_list> events_ = std::make_shared<detail::listener_list>();

  // for_each's pins, taken in one read section without allocating in it;
  // when peers arrived meanwhile, again with more room.
  std::vector<pin> pin_all() const {
    std::vector<pin> pins;
    for (std::size_t room = size() + 8;; room = 2 * room + size()) {
      pins.clear();
      pins.reserve(room);
      const auto section = gate_.enter();
      const bool fits = walk_table(*table_.load(std::memory_order_seq_cst), std::memory_order_seq_cst, [&](const link* l) {
        if (pins.size() == pins.capacity()) return false;
        detail::breaker_access::pin(l->n->breaker);
        pins.emplace_back(l->n);
        return true;
      });
      gate_.leave(section);
      if (fits) return pins;
    }
  }
};

}  // namespace circuit
