#pragma once
// A fleet backend inside one process: the records of fleet/server_rule.hpp
// in a map, with a server clock of its own. Several fleet engines (each
// standing for one process) share one of these in a test, which then moves
// the server's time and the processes' clocks independently, and can make
// the "server" fail, lose replies or lose its data.

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <circuit/fleet/backend.hpp>
#include <circuit/fleet/server_rule.hpp>
#include <circuit/manual_clock.hpp>

namespace circuit::fleet {

/// The in-process fleet backend (satisfies circuit::fleet::backend). Its
/// server time is `clock()`, a manual_clock that only the test moves.
/// Thread-safe: every member may be called concurrently.
class in_process_backend {
 public:
  /// `server_clock`: the server's time (a copy shares the timeline).
  explicit in_process_backend(manual_clock server_clock = manual_clock{}) : clock_(std::move(server_clock)) {}

  in_process_backend(const in_process_backend&) = delete;
  in_process_backend& operator=(const in_process_backend&) = delete;

  /// Applies each request (see circuit::fleet::backend).
  sync_outcome sync(std::string_view store_id, std::span<const sync_request> requests,
                    std::vector<sync_reply>& replies) {
    std::lock_guard lock(mutex_);
    ++syncs_;
    const auto now = now_ns();
    if (down_ || fail_next_ > 0) {
      if (fail_next_ > 0) --fail_next_;
      up_ = false;
      return {.ok = false, .maybe_applied = false, .error = "in-process backend: down", .server_time_ns = 0};
    }
    replies.clear();
    replies.reserve(requests.size());
    for (const auto& q : requests) {
      if (corrupt_.contains(q.name)) {
        replies.push_back({.usable = false, .error = "corrupt record for '" + q.name + "'"});
        continue;
      }
      replies.push_back(apply_request(records_[q.name], q, store_id, now));
    }
    if (lose_next_ > 0) {
      --lose_next_;
      replies.clear();
      up_ = false;
      return {.ok = false, .maybe_applied = true, .error = "in-process backend: reply lost", .server_time_ns = 0};
    }
    up_ = true;
    return {.ok = true, .maybe_applied = true, .error = {}, .server_time_ns = now};
  }

  /// Whether the last sync worked.
  [[nodiscard]] bool up() const {
    std::lock_guard lock(mutex_);
    return up_;
  }

  /// The server's clock (a copy: moving it moves the server's time).
  [[nodiscard]] manual_clock clock() const noexcept { return clock_; }

  // ---- What a test does to the "server" ------------------------------------

  /// The next `n` syncs fail before applying anything (a refused connection).
  void fail_next_syncs(int n) {
    std::lock_guard lock(mutex_);
    fail_next_ = n;
  }
  /// The next `n` syncs are applied, but their replies are lost (a timeout).
  void lose_next_replies(int n) {
    std::lock_guard lock(mutex_);
    lose_next_ = n;
  }
  /// While down, every sync fails before applying anything.
  void set_down(bool down) {
    std::lock_guard lock(mutex_);
    down_ = down;
  }
  /// Loses every record (FLUSHALL).
  void lose_data() {
    std::lock_guard lock(mutex_);
    records_.clear();
  }
  /// The record of `name` can no longer be used (a corrupt or wrong-typed key).
  void corrupt(const std::string& name, bool is_corrupt = true) {
    std::lock_guard lock(mutex_);
    if (is_corrupt) {
      corrupt_[name] = true;
    } else {
      corrupt_.erase(name);
    }
  }
  /// A copy of the record of `name`, if there is one.
  [[nodiscard]] std::optional<fleet_record> record(const std::string& name) const {
    std::lock_guard lock(mutex_);
    const auto i = records_.find(name);
    if (i == records_.end()) return std::nullopt;
    return i->second;
  }
  /// Syncs so far (failed ones included).
  [[nodiscard]] std::uint64_t syncs() const {
    std::lock_guard lock(mutex_);
    return syncs_;
  }

 private:
  [[nodiscard]] std::int64_t now_ns() const noexcept { return clock_.now().time_since_epoch().count(); }

  manual_clock clock_;
  mutable std::mutex mutex_;
  std::map<std::string, fleet_record, std::less<>> records_;
  std::map<std::string, bool, std::less<>> corrupt_;
  int fail_next_ = 0;
  int lose_next_ = 0;
  bool down_ = false;
  bool up_ = false;
  std::uint64_t syncs_ = 0;
};

static_assert(backend<in_process_backend>);

}  // namespace circuit::fleet
