#pragma once
// The Redis fleet backend (a circuit::fleet::backend): one pipelined round
// trip per sync, one EVALSHA of redis/script.hpp per shared breaker on its
// own hash `<prefix>:{<name>}` (so a Redis Cluster can shard by breaker).

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <circuit/fleet/backend.hpp>
#include <circuit/redis/connection.hpp>
#include <circuit/redis/script.hpp>
#include <circuit/redis/settings.hpp>

namespace circuit::redis {

/// Talks to Redis for a store (see circuit::fleet::backend). `sync()` from
/// one thread at a time; the counters and `up()` from any thread.
class fleet_backend {
 public:
  /// `s` must be valid (redis::detail::validate). `reconnect_backoff`: after
  /// a failure, wait 100 ms, growing to 2 s, jittered, before connecting
  /// again (a store's thread); without it every sync tries (manual mode).
  fleet_backend(settings s, bool reconnect_backoff)
      : settings_(std::move(s)), backoff_(reconnect_backoff), channel_(changes_channel(settings_.prefix)) {}

  fleet_backend(const fleet_backend&) = delete;
  fleet_backend& operator=(const fleet_backend&) = delete;

  /// The pub/sub channel that the script announces changes on.
  [[nodiscard]] static std::string changes_channel(const std::string& prefix) { return prefix + ":changes"; }
  /// The hash of the breaker called `name`.
  [[nodiscard]] std::string key_of(std::string_view name) const {
    return settings_.prefix + ":{" + std::string(name) + "}";
  }

  /// One round trip: every request pipelined (a PING when there are none).
  fleet::sync_outcome sync(std::string_view store_id, std::span<const fleet::sync_request> requests,
                           std::vector<fleet::sync_reply>& replies) {
    replies.clear();
    if (!connect()) return failed(false);
    if (requests.empty()) {
      auto r = conn_->command({"PING"});
      if (!r) return lost();
      return done(0);
    }
    for (const auto& q : requests) {
      if (!conn_->append(args_for(store_id, q))) return lost();
    }
    std::vector<std::size_t> unloaded;
    replies.resize(requests.size());
    std::int64_t server_now = 0;
    for (std::size_t i = 0; i < requests.size(); ++i) {
      auto r = conn_->next_reply();
      if (!r) return lost();
      if (r->type == REDIS_REPLY_ERROR && std::string_view(r->str, r->len).starts_with("NOSCRIPT")) {
        unloaded.push_back(i);
        continue;
      }
      server_now = std::max(server_now, parse(*r, replies[i]));
    }
    if (!unloaded.empty()) {
      // Redis lost its scripts (a restart, SCRIPT FLUSH): they ran nowhere,
      // so they are sent again once the script is back.
      if (!load_script()) return lost();
      for (const auto i : unloaded) {
        if (!conn_->append(args_for(store_id, requests[i]))) return lost();
      }
      for (const auto i : unloaded) {
        auto r = conn_->next_reply();
        if (!r) return lost();
        server_now = std::max(server_now, parse(*r, replies[i]));
      }
    }
    return done(server_now);
  }

  /// Redis answered the last exchange, with the script loaded.
  [[nodiscard]] bool up() const noexcept { return up_.load(std::memory_order_acquire); }

  /// Exchanges with Redis that got their replies.
  [[nodiscard]] std::uint64_t round_trips() const noexcept { return round_trips_.load(std::memory_order_relaxed); }
  /// Failed connects and exchanges.
  [[nodiscard]] std::uint64_t errors() const noexcept { return errors_.load(std::memory_order_relaxed); }
  /// Connections made after the first.
  [[nodiscard]] std::uint64_t reconnects() const noexcept { return reconnects_.load(std::memory_order_relaxed); }
  /// The text of the latest error; empty when none.
  [[nodiscard]] std::string last_error() const {
    std::lock_guard lock(error_mutex_);
    return last_error_;
  }

 private:
  bool connect() {
    if (conn_ && conn_->ok()) return true;
    conn_.reset();
    const auto now = std::chrono::steady_clock::now();
    if (backoff_ && now < next_attempt_) return false;
    auto c = std::make_unique<detail::connection>(settings_, settings_.command_timeout);
    if (!c->ok()) {
      note_error("connect: " + c->error());
      schedule_retry(now);
      return false;
    }
    conn_ = std::move(c);
    if (!load_script()) {
      conn_.reset();
      schedule_retry(now);
      return false;
    }
    if (connected_once_) reconnects_.fetch_add(1, std::memory_order_relaxed);
    connected_once_ = true;
    retry_delay_ = std::chrono::milliseconds(0);
    return true;
  }

  bool load_script() {
    auto r = conn_->command({"SCRIPT", "LOAD", detail::sync_script});
    if (!r) {
      note_error("SCRIPT LOAD: " + conn_->error());
      conn_.reset();
      return false;
    }
    if (r->type != REDIS_REPLY_STRING) {
      note_error("SCRIPT LOAD: " + (r->type == REDIS_REPLY_ERROR ? std::string(r->str, r->len) : "unexpected reply"));
      conn_.reset();
      return false;
    }
    sha_.assign(r->str, r->len);
    return true;
  }

  // 100 ms, doubling up to 2 s, each drawn from [d/2, d].
  void schedule_retry(std::chrono::steady_clock::time_point now) {
    using std::chrono::milliseconds;
    retry_delay_ = retry_delay_ == milliseconds(0) ? milliseconds(100) : std::min(retry_delay_ * 2, milliseconds(2000));
    std::uniform_int_distribution<std::int64_t> half(retry_delay_.count() / 2, retry_delay_.count());
    next_attempt_ = now + milliseconds(half(random_));
  }

  fleet::sync_outcome failed(bool maybe_applied) {
    up_.store(false, std::memory_order_release);
    return {.ok = false, .maybe_applied = maybe_applied, .error = last_error(), .server_time_ns = 0};
  }

  // The connection failed mid-exchange: what was sent may have run.
  fleet::sync_outcome lost() {
    note_error(conn_ ? conn_->error() : "connection lost");
    conn_.reset();
    schedule_retry(std::chrono::steady_clock::now());
    return failed(true);
  }

  fleet::sync_outcome done(std::int64_t server_now) {
    round_trips_.fetch_add(1, std::memory_order_relaxed);
    up_.store(true, std::memory_order_release);
    return {.ok = true, .maybe_applied = true, .error = {}, .server_time_ns = server_now};
  }

  void note_error(std::string what) {
    errors_.fetch_add(1, std::memory_order_relaxed);
    std::lock_guard lock(error_mutex_);
    last_error_ = std::move(what);
  }

  static std::string us(std::int64_t ns) { return std::to_string(ns / 1000); }
  static std::string real(double d) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.17g", d);
    return buf;
  }

  std::vector<std::string> args_for(std::string_view store_id, const fleet::sync_request& q) const {
    const auto& r = q.rule;
    std::vector<std::string> a;
    a.reserve(24 + 8 * q.batches.size());
    a.emplace_back("EVALSHA");
    a.push_back(sha_);
    a.emplace_back("1");
    a.push_back(key_of(q.name));
    a.emplace_back(store_id);
    a.push_back(channel_);
    a.push_back(q.name);
    a.push_back(std::to_string(static_cast<int>(r.kind)));
    a.push_back(std::to_string(r.max_failures));
    a.push_back(real(r.failure_rate));
    a.push_back(std::to_string(r.minimum_calls));
    a.push_back(us(r.window_ns));
    a.push_back(std::to_string(std::max<std::int64_t>(1, r.bucket_ns / 1000)));
    a.push_back(us(r.open_initial_ns));
    a.push_back(real(r.open_multiplier));
    a.push_back(us(r.open_max_ns));
    a.push_back(std::to_string(r.half_open_max_calls));
    a.push_back(std::to_string(r.success_threshold));
    a.push_back(us(r.probe_lease_ns));
    a.push_back(us(r.idle_ttl_ns));
    a.push_back(std::to_string(static_cast<int>(q.local_state)));
    a.push_back(us(q.local_open_left_ns));
    a.push_back(std::to_string(q.probes_held));
    a.push_back(std::to_string(q.batches.size()));
    for (const auto& b : q.batches) {
      a.push_back(std::to_string(b.id));
      a.push_back(us(b.age_ns));
      a.push_back(std::to_string(b.failures));
      a.push_back(std::to_string(b.successes));
      a.push_back(std::to_string(b.probe_successes));
      a.push_back(std::to_string(b.probe_generation));
      a.push_back(std::to_string(static_cast<int>(b.change)));
      a.push_back(std::to_string(b.change_generation));
    }
    return a;
  }

  // The script's reply (see redis/script.hpp); returns the server's time.
  static std::int64_t parse(const redisReply& r, fleet::sync_reply& out) {
    out = {};
    if (r.type == REDIS_REPLY_ERROR) {
      out.usable = false;
      out.error.assign(r.str, r.len);  // WRONGTYPE, CORRUPT ...
      return 0;
    }
    if (r.type != REDIS_REPLY_ARRAY || r.elements != 12) {
      out.usable = false;
      out.error = "unexpected reply to the sync script";
      return 0;
    }
    long long v[12];
    for (std::size_t i = 0; i < 12; ++i) {
      if (r.element[i]->type != REDIS_REPLY_INTEGER) {
        out.usable = false;
        out.error = "unexpected reply to the sync script";
        return 0;
      }
      v[i] = r.element[i]->integer;
    }
    if (v[0] < 0 || v[0] > 4) {
      out.usable = false;
      out.error = "unexpected state in the sync script's reply";
      return 0;
    }
    const auto u = [&](int i) { return static_cast<std::uint64_t>(std::max(0LL, v[i])); };
    out.fleet_state = static_cast<state>(v[0]);
    out.generation = u(1);
    out.open_left_ns = std::max(0LL, v[2]) * 1000;
    out.backoff_grew = v[3] != 0;
    out.by_requester = v[4] != 0;
    out.probes_granted = static_cast<std::uint32_t>(std::min<std::uint64_t>(u(5), 0xffffffffu));
    out.acknowledged = u(6);
    out.total_failures = u(7);
    out.total_successes = u(8);
    out.window_failures = u(9);
    out.window_successes = u(10);
    return v[11] * 1000;
  }

  const settings settings_;
  const bool backoff_;
  const std::string channel_;
  std::unique_ptr<detail::connection> conn_;
  std::string sha_;
  bool connected_once_ = false;
  std::chrono::milliseconds retry_delay_{0};
  std::chrono::steady_clock::time_point next_attempt_{};
  std::minstd_rand random_{std::random_device{}()};

  std::atomic<bool> up_{false};
  std::atomic<std::uint64_t> round_trips_{0}, errors_{0}, reconnects_{0};
  mutable std::mutex error_mutex_;
  std::string last_error_;
};

static_assert(fleet::backend<fleet_backend>);

}  // namespace circuit::redis
