#pragma once
// A breaker's (or a set's) state changes as spdlog lines, in python-circuit's
// words; and fmt formatters for circuit's enums. Link circuit::spdlog.

#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>

#include <spdlog/fmt/fmt.h>
#include <spdlog/spdlog.h>

#include <circuit/event.hpp>
#include <circuit/options.hpp>
#include <circuit/state.hpp>
#include <circuit/subscription.hpp>

// ---- fmt::formatter for state, event_kind, transition_cause ---------------
// Each formats as its `to_string` word and takes the string format specs
// ("{:>9}"). spdlog built on std::format gets std::formatter instead.
#if defined(SPDLOG_USE_STD_FORMAT)
#include <format>
#define CIRCUIT_SPDLOG_FORMATTER(T)                                                   \
  template <>                                                                         \
  struct std::formatter<T, char> : std::formatter<std::string_view, char> {           \
    template <class Context>                                                          \
    auto format(T value, Context& ctx) const {                                        \
      return std::formatter<std::string_view, char>::format(circuit::to_string(value), ctx); \
    }                                                                                 \
  };
#else
#define CIRCUIT_SPDLOG_FORMATTER(T)                                                   \
  template <>                                                                         \
  struct fmt::formatter<T> : fmt::formatter<fmt::string_view> {                      \
    template <class Context>                                                          \
    auto format(T value, Context& ctx) const -> decltype(ctx.out()) {                 \
      const std::string_view word = circuit::to_string(value);                        \
      return fmt::formatter<fmt::string_view>::format(fmt::string_view(word.data(), word.size()), ctx); \
    }                                                                                 \
  };
#endif

/// Formats a `circuit::state` as its `to_string` word ("half_open").
CIRCUIT_SPDLOG_FORMATTER(circuit::state)
/// Formats a `circuit::event_kind` as its `to_string` word ("rejected").
CIRCUIT_SPDLOG_FORMATTER(circuit::event_kind)
/// Formats a `circuit::transition_cause` as its `to_string` word ("probe_failed").
CIRCUIT_SPDLOG_FORMATTER(circuit::transition_cause)
#undef CIRCUIT_SPDLOG_FORMATTER

namespace circuit {

/// The level of each kind of line `log_to` writes. A value; thread-safe to
/// copy. `spdlog::level::off` silences a kind.
struct log_settings {
  /// closed -> open, the counter's rule met: "got error <what> - opening circuit".
  spdlog::level::level_enum trip = spdlog::level::err;
  /// half_open -> open, a probe failed or timed out: "... - reopening circuit".
  spdlog::level::level_enum reopen = spdlog::level::warn;
  /// open -> half_open: "half-open - letting one through (N calls rejected while open)".
  spdlog::level::level_enum half_open = spdlog::level::debug;
  /// half_open -> closed: "closing circuit".
  spdlog::level::level_enum close = spdlog::level::info;
  /// An operator's lever: `trip()`, `isolate()`, `disable()` (and a state
  /// adopted from other processes).
  spdlog::level::level_enum steer = spdlog::level::warn;
  /// `reset()`: "reset - closing circuit".
  spdlog::level::level_enum reset = spdlog::level::info;
  /// Each failed call: "call failed: <what>".
  spdlog::level::level_enum failure = spdlog::level::debug;
  /// Each success, ignored outcome and rejection. Must be `trace` or `off`:
  /// a line per rejected call at debug or above would flood the log just
  /// when a peer is down.
  spdlog::level::level_enum success_and_rejection = spdlog::level::trace;
};

/// Throws `std::invalid_argument` naming `log_settings.success_and_rejection`
/// when it is neither `trace` nor `off`.
inline void validate(const log_settings& s) {
  if (s.success_and_rejection != spdlog::level::trace && s.success_and_rejection != spdlog::level::off) {
    detail::invalid("log_settings", "success_and_rejection",
                    "must be trace or off (a line per rejected call never goes out at debug or above)");
  }
}

namespace detail {

// What a log_to listener keeps; shared by the listener's copies.
class breaker_log {
 public:
  breaker_log(std::shared_ptr<spdlog::logger> logger, log_settings settings, bool per_peer)
      : logger_(std::move(logger)), settings_(settings), per_peer_(per_peer) {}

  // The total rejections of the named breaker now, when it can be read.
  std::function<std::optional<std::uint64_t>(std::string_view)> rejections;

  void on_event(const event& e) {
    switch (e.kind) {
      case event_kind::state_change: return on_state_change(e);
      case event_kind::failure: return on_failure(e);
      case event_kind::success: return line(e.name, settings_.success_and_rejection, "call succeeded");
      case event_kind::ignored: return line(e.name, settings_.success_and_rejection, "call ignored");
      case event_kind::rejected:
        return line(e.name, settings_.success_and_rejection, "call rejected: circuit " + std::string(to_string(e.to)));
    }
  }

 private:
  struct peer {
    std::shared_ptr<spdlog::logger> logger;
    std::exception_ptr last_error;
    bool last_from_result = false;
    std::uint64_t rejections_at_open = 0;
  };

  // The peer's entry and logger: the logger itself for a breaker; for a set
  // a clone named "<logger>.<peer>" (sharing the sinks, not registered).
  std::shared_ptr<spdlog::logger> logger_of(std::string_view name) {
    if (!per_peer_) return logger_;
    std::lock_guard lock(mutex_);
    return entry_locked(name).logger;
  }

  peer& entry_locked(std::string_view name) {
    auto it = peers_.find(std::string(name));
    if (it == peers_.end()) {
      it = peers_.emplace(std::string(name), peer{}).first;
      // The default logger's name is empty: its children are named by peer alone.
      if (per_peer_) {
        it->second.logger =
            logger_->clone(logger_->name().empty() ? std::string(name) : logger_->name() + "." + std::string(name));
      }
    }
    return it->second;
  }

  void line(std::string_view name, spdlog::level::level_enum level, const std::string& text) {
    // `off` as a message level would pass should_log(): it silences the kind.
    if (level == spdlog::level::off || !logger_->should_log(level)) return;
    const auto log = logger_of(name);
    log->log(level, "{}", text);
  }

  static std::string describe(const std::exception_ptr& error, bool from_result) {
    if (error) {
#if defined(__cpp_exceptions)
      try {
        std::rethrow_exception(error);
      } catch (const std::exception& x) {
        return x.what();
      } catch (...) {
        return "unknown exception";
      }
#else
      return "exception";
#endif
    }
    return from_result ? "a failing result" : "a slow call";
  }

  void on_failure(const event& e) {
    {
      std::lock_guard lock(mutex_);
      auto& p = entry_locked(e.name);
      p.last_error = e.error;
      p.last_from_result = e.from_result;
    }
    if (settings_.failure != spdlog::level::off && logger_->should_log(settings_.failure)) {
      line(e.name, settings_.failure, "call failed: " + describe(e.error, e.from_result));
    }
  }

  void on_state_change(const event& e) {
    // Read outside the lock: metrics() may announce a change of its own.
    std::optional<std::uint64_t> rejected_now;
    if ((e.to == state::open || e.to == state::half_open) && rejections) rejected_now = rejections(e.name);

    std::exception_ptr error = e.error;
    bool from_result = e.from_result;
    std::optional<std::uint64_t> rejected_while_open;
    {
      std::lock_guard lock(mutex_);
      auto& p = entry_locked(e.name);
      if (!error) {
        error = p.last_error;
        from_result = p.last_from_result;
      }
      if (e.to == state::open && rejected_now) p.rejections_at_open = *rejected_now;
      if (e.to == state::half_open && rejected_now) rejected_while_open = *rejected_now - p.rejections_at_open;
      if (e.to == state::closed) p.last_error = nullptr;
    }

    const auto cause = e.cause.value_or(e.to == state::closed ? transition_cause::probes_succeeded
                                                                : transition_cause::counter_tripped);
    switch (cause) {
      case transition_cause::counter_tripped:
        return line(e.name, settings_.trip, "got error " + describe(error, from_result) + " - opening circuit");
      case transition_cause::probe_failed:
        return line(e.name, settings_.reopen,
                    "got error " + describe(error, from_result) + " while half-open - reopening circuit");
      case transition_cause::probe_timed_out:
        return line(e.name, settings_.reopen, "probe timed out while half-open - reopening circuit");
      case transition_cause::open_elapsed: {
        std::string text = "half-open - letting one through";
        if (rejected_while_open) {
          text += " (" + std::to_string(*rejected_while_open) + " call" + (*rejected_while_open == 1 ? "" : "s") +
                  " rejected while open)";
        }
        return line(e.name, settings_.half_open, text);
      }
      case transition_cause::probes_succeeded: return line(e.name, settings_.close, "closing circuit");
      case transition_cause::tripped: return line(e.name, settings_.steer, "trip() - opening circuit");
      case transition_cause::isolated: return line(e.name, settings_.steer, "isolate() - holding circuit open until reset()");
      case transition_cause::disabled: return line(e.name, settings_.steer, "disable() - every call passes");
      case transition_cause::reset: return line(e.name, settings_.reset, "reset - closing circuit");
      case transition_cause::fleet:
        return line(e.name, settings_.steer, "adopted " + std::string(to_string(e.to)) + " from the fleet");
    }
  }

  const std::shared_ptr<spdlog::logger> logger_;
  const log_settings settings_;
  const bool per_peer_;
  std::mutex mutex_;  // held only to find or update a peer's entry, never while logging
  std::unordered_map<std::string, peer> peers_;
};

}  // namespace detail

/// Logs the state changes of `target` (a breaker, or every peer of a set)
/// to `logger`, each kind of line at its level in `settings`:
///
///     auto sub = circuit::log_to(breaker, spdlog::default_logger());   // keep it
///     auto sub = circuit::log_to(peers, logger, {.trip = spdlog::level::warn});
///
/// The words are python-circuit's: a trip logs "got error <what()> - opening
/// circuit" (the exception's text when the failure was an exception), an
/// open spell's end "half-open - letting one through (N calls rejected
/// while open)", a close "closing circuit". A set logs each peer through a
/// child logger named "<logger>.<peer>" (just "<peer>" when `logger` has
/// no name, as spdlog's default logger): a clone of `logger` (same sinks,
/// level and pattern, as of the first line of that peer), not registered
/// with spdlog.
///
/// Cost: it listens with an `event_filter` that leaves out successes, so
/// the closed-state success path pays nothing; it takes rejections (and
/// successes) only when `logger` would print `success_and_rejection` at
/// the time of this call. Lines are written on the thread that caused the
/// event, outside every breaker lock.
///
/// Keep the returned subscription: destroying it stops the logging. It
/// must not outlive `target`. Throws `std::invalid_argument` when `logger`
/// is null or `settings` is invalid (see `validate(log_settings)`).
/// Thread-safe: the listener may run on many threads at once.
template <class Target>
[[nodiscard]] subscription log_to(Target& target, std::shared_ptr<spdlog::logger> logger, log_settings settings = {}) {
  if (!logger) detail::invalid("log_to", "logger", "must not be null");
  validate(settings);
  constexpr bool is_set = requires { typename Target::breaker_type; };
  const bool chatty = settings.success_and_rejection != spdlog::level::off &&
                      logger->should_log(settings.success_and_rejection);
  auto log = std::make_shared<detail::breaker_log>(std::move(logger), settings, is_set);

  // How many calls the open spell rejected: the breaker's total rejections
  // at the change to half_open minus those at the change to open.
  if constexpr (!is_set) {
    log->rejections = [&target](std::string_view) -> std::optional<std::uint64_t> {
      return target.metrics().total.rejections;
    };
  } else if constexpr (requires { target.metrics(std::string_view{}); }) {
    log->rejections = [&target](std::string_view peer) -> std::optional<std::uint64_t> {
      if (const auto m = target.metrics(peer)) return m->total.rejections;
      return std::nullopt;
    };
  }

  const event_filter filter = chatty ? event_filter::all
                                     : event_filter{event_kind::failure, event_kind::state_change};
  auto listener = [log](const event& e) { log->on_event(e); };
  if constexpr (requires { target.on_event(listener, filter); }) {
    return target.on_event(std::move(listener), filter);
  } else {
    // A core without filtered subscriptions: the same lines, filtered here.
    return target.on_event([log, filter](const event& e) {
      if (filter.contains(e.kind)) log->on_event(e);
    });
  }
}

}  // namespace circuit
