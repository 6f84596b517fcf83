#pragma once
// How a circuit::redis::store reaches Redis and syncs, and what it reports.

#include <chrono>
#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include <circuit/options.hpp>

namespace circuit::redis {

/// Where Redis is and how the store talks to it. Checked by the store's
/// constructor: `std::invalid_argument` naming the member
/// ("circuit::redis::settings.command_timeout must be positive").
struct settings {
  /// Redis's host name or address (not empty unless `unix_socket` is set).
  std::string host = "127.0.0.1";
  /// Redis's TCP port, 1-65535.
  int port = 6379;
  /// Used instead of host and port when set.
  std::string unix_socket = {};
  /// Key namespace, [A-Za-z0-9_:.-]+: keys are `<prefix>:{<name>}`.
  std::string prefix = "circuit";
  /// Bounds every connection attempt.
  std::chrono::milliseconds connect_timeout = std::chrono::milliseconds(200);
  /// Bounds every command (each read and write on the socket).
  std::chrono::milliseconds command_timeout = std::chrono::milliseconds(100);
  /// Every shared breaker is synced this often (and its evidence bucketed
  /// at this resolution); `up()` notices an outage within
  /// `command_timeout + sync_interval`.
  std::chrono::milliseconds sync_interval = std::chrono::milliseconds(250);
  /// A fleet probe reservation expires after this.
  std::chrono::milliseconds probe_lease = std::chrono::seconds(10);
  /// Learn remote changes by pub/sub (a second connection), not only by polling.
  bool subscribe = true;
  /// No threads: the owner calls `sync_now()` (deterministic tests).
  bool manual = false;
};

/// What `store::status()` reports.
struct store_status {
  bool up = false;                    ///< as `store::up()`
  std::uint64_t round_trips = 0;      ///< exchanges with Redis that got their replies
  std::uint64_t errors = 0;           ///< failed connects and exchanges
  std::uint64_t reconnects = 0;       ///< connections made after the first
  std::string last_error;             ///< empty when none
  std::size_t shared = 0;             ///< breakers shared now
  std::vector<std::string> unsynced;  ///< breakers whose key could not be used (wrong type, corrupt)
};

/// One line: "up, 12 round trips, 0 errors, 0 reconnects, 3 shared".
inline std::ostream& operator<<(std::ostream& out, const store_status& s) {
  out << (s.up ? "up" : "down") << ", " << s.round_trips << " round trips, " << s.errors << " errors, "
      << s.reconnects << " reconnects, " << s.shared << " shared";
  if (!s.unsynced.empty()) {
    out << ", unsynced:";
    for (const auto& n : s.unsynced) out << ' ' << n;
  }
  if (!s.last_error.empty()) out << ", last error: " << s.last_error;
  return out;
}

namespace detail {

inline constexpr const char* settings_owner = "circuit::redis::settings";

inline void positive(std::chrono::milliseconds d, const char* field) {
  if (d <= std::chrono::milliseconds::zero()) circuit::detail::invalid(settings_owner, field, "must be positive");
}

/// Throws `std::invalid_argument` naming the first invalid member.
inline void validate(const settings& s) {
  if (s.unix_socket.empty()) {
    if (s.host.empty()) circuit::detail::invalid(settings_owner, "host", "must not be empty (or set unix_socket)");
    if (s.port < 1 || s.port > 65535) circuit::detail::invalid(settings_owner, "port", "must be within 1-65535");
  }
  if (s.prefix.empty()) circuit::detail::invalid(settings_owner, "prefix", "must not be empty");
  for (const char c : s.prefix) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
                    c == ':' || c == '.' || c == '-';
    if (!ok) circuit::detail::invalid(settings_owner, "prefix", "must be made of [A-Za-z0-9_:.-]");
  }
  positive(s.connect_timeout, "connect_timeout");
  positive(s.command_timeout, "command_timeout");
  positive(s.sync_interval, "sync_interval");
  positive(s.probe_lease, "probe_lease");
}

}  // namespace detail
}  // namespace circuit::redis
