#pragma once
// What the Redis tests share besides the server fixture: store settings with
// short intervals, key names, an event recorder, and a meter of call times.

#include <sys/resource.h>

#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <circuit/circuit.hpp>
#include <circuit/redis.hpp>

#include "redis_server.hpp"

namespace redis_test {

/// The intervals of the tests: short, so that the suite stays fast.
inline constexpr auto sync_interval = std::chrono::milliseconds(20);
inline constexpr auto command_timeout = std::chrono::milliseconds(50);
inline constexpr auto connect_timeout = std::chrono::milliseconds(50);
/// What a bound on real time allows beyond the contract's figure for
/// scheduling on a loaded machine (2 cores shared, sanitizers): small
/// against the waits it must tell apart (a command_timeout, a lease).
inline constexpr auto scheduling_slack = std::chrono::milliseconds(30);

/// Settings for a store on `server` under `prefix`.
inline circuit::redis::settings settings_for(const redis_server& server, const std::string& prefix, bool manual,
                                             bool subscribe = true) {
  circuit::redis::settings s;
  s.host = "127.0.0.1";
  s.port = server.port();
  s.prefix = prefix;
  s.manual = manual;
  s.subscribe = subscribe;
  s.sync_interval = sync_interval;
  s.command_timeout = command_timeout;
  s.connect_timeout = connect_timeout;
  return s;
}

/// The key of breaker `name` under `prefix`: `<prefix>:{<name>}`.
inline std::string key_of(const std::string& prefix, const std::string& name) { return prefix + ":{" + name + "}"; }

/// One state change a listener saw.
struct seen_change {
  circuit::state from, to;
  std::optional<circuit::transition_cause> cause;
  std::uint64_t generation;
};

/// Records every state_change of the breakers it listens to. Thread-safe.
class change_log {
 public:
  template <class Breaker>
  [[nodiscard]] circuit::subscription listen(Breaker& b) {
    return b.on_event(
        [this](const circuit::event& e) {
          std::lock_guard lock(mutex_);
          changes_.push_back({e.from, e.to, e.cause, e.generation});
        },
        circuit::event_filter::state_changes);
  }
  std::vector<seen_change> changes() const {
    std::lock_guard lock(mutex_);
    return changes_;
  }
  /// The changes to `to`.
  std::vector<seen_change> changes_to(circuit::state to) const {
    std::vector<seen_change> out;
    for (const auto& c : changes()) {
      if (c.to == to) out.push_back(c);
    }
    return out;
  }
  void clear() {
    std::lock_guard lock(mutex_);
    changes_.clear();
  }

 private:
  mutable std::mutex mutex_;
  std::vector<seen_change> changes_;
};

/// Times calls one by one. A call is "waiting" when it took longer than the
/// limit although the thread was never preempted during it (no involuntary
/// context switch: getrusage(RUSAGE_THREAD)): a call that blocks (a lock, a
/// socket) switches voluntarily, so the scheduler of a loaded machine cannot
/// be mistaken for a call waiting on Redis, or the other way round.
class call_meter {
 public:
  struct sample {
    std::chrono::nanoseconds elapsed;
    bool preempted;      // an involuntary context switch happened during the call
    bool blocked;        // a voluntary one did: the call slept in the kernel
    const char* what;    // which call
  };

  /// Runs `f()` once, timed; `what` names it in messages.
  template <class F>
  sample measure(F&& f, const char* what = "") {
    rusage before{}, after{};
    ::getrusage(RUSAGE_THREAD, &before);
    const auto start = std::chrono::steady_clock::now();
    f();
    const auto elapsed = std::chrono::steady_clock::now() - start;
    ::getrusage(RUSAGE_THREAD, &after);
    sample s{elapsed, after.ru_nivcsw != before.ru_nivcsw, after.ru_nvcsw != before.ru_nvcsw, what};
    samples_.push_back(s);
    return s;
  }

  /// The longest call that was not preempted (0 when none).
  std::chrono::nanoseconds longest_unpreempted() const {
    std::chrono::nanoseconds m{0};
    for (const auto& s : samples_) {
      if (!s.preempted && s.elapsed > m) m = s.elapsed;
    }
    return m;
  }
  /// The longest call that was not preempted, if any.
  std::optional<sample> slowest_unpreempted() const {
    std::optional<sample> m;
    for (const auto& s : samples_) {
      if (!s.preempted && (!m || s.elapsed > m->elapsed)) m = s;
    }
    return m;
  }
  /// Calls over `limit` that were not preempted, and calls that blocked.
  std::size_t over(std::chrono::nanoseconds limit) const {
    std::size_t n = 0;
    for (const auto& s : samples_) {
      if (!s.preempted && s.elapsed > limit) ++n;
    }
    return n;
  }
  std::size_t blocked() const {
    std::size_t n = 0;
    for (const auto& s : samples_) n += s.blocked ? 1 : 0;
    return n;
  }
  std::size_t preempted() const {
    std::size_t n = 0;
    for (const auto& s : samples_) n += s.preempted ? 1 : 0;
    return n;
  }
  std::size_t size() const { return samples_.size(); }

 private:
  std::vector<sample> samples_;
};

/// Milliseconds as a double, for messages.
inline double ms(std::chrono::nanoseconds d) { return std::chrono::duration<double, std::milli>(d).count(); }

}  // namespace redis_test
