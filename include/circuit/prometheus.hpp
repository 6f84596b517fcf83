#pragma once
// Breakers and sets as Prometheus text exposition (format 0.0.4), with no
// dependency: what a /metrics endpoint returns.

#include <cstdint>
#include <limits>
#include <ostream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <circuit/detail/observe.hpp>
#include <circuit/options.hpp>
#include <circuit/state.hpp>

namespace circuit {

/// Which metric names `prometheus_writer` emits.
enum class prometheus_naming : std::uint8_t {
  /// `<prefix>_state`, `<prefix>_calls_total`, ... (see `prometheus_writer`).
  prefixed,
  /// resilience4j's Micrometer names (`resilience4j_circuitbreaker_state`,
  /// ...), so that dashboards built for resilience4j work unchanged; the
  /// prefix is ignored.
  resilience4j,
};

/// Settings of a `prometheus_writer`. A value; thread-safe to copy.
struct prometheus_settings {
  /// The start of every family's name: `[a-zA-Z_:][a-zA-Z0-9_:]*`, not
  /// empty. Ignored with `prometheus_naming::resilience4j`.
  std::string prefix = "circuit_breaker";
  /// Which names to emit.
  prometheus_naming naming = prometheus_naming::prefixed;
};

/// Throws `std::invalid_argument` naming `prometheus_settings.prefix` when
/// the prefix is not a valid Prometheus metric name.
inline void validate(const prometheus_settings& s) {
  const auto head = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':'; };
  const auto tail = [&](char c) { return head(c) || (c >= '0' && c <= '9'); };
  bool ok = !s.prefix.empty() && head(s.prefix[0]);
  for (std::size_t i = 1; ok && i < s.prefix.size(); ++i) ok = tail(s.prefix[i]);
  if (!ok) {
    detail::invalid("prometheus_settings", "prefix", "must match [a-zA-Z_:][a-zA-Z0-9_:]* (not empty)");
  }
}

/// Writes breakers and sets as Prometheus text: every family's HELP and
/// TYPE once, its series together, one series per breaker (per peer of a
/// set) labelled `name`.
///
///     std::ostringstream out;
///     circuit::prometheus_writer w(out, {.prefix = "circuit_breaker"});
///     w.add(breaker);   // any breaker
///     w.add(peers);     // any set: a series per peer, name = peer id
///     w.finish();       // or let the destructor do it: the same text
///
/// Families with the default naming (`<p>` is the prefix):
/// | family | type | labels | value |
/// |---|---|---|---|
/// | `<p>_state` | gauge | `state` | 1 for the current state, 0 for the other four |
/// | `<p>_calls_total` | counter | `kind` = successful, failed, ignored | `metrics().total` |
/// | `<p>_slow_calls_total` | counter | | `total.slow` |
/// | `<p>_not_permitted_calls_total` | counter | | `total.rejections` |
/// | `<p>_window_calls` | gauge | `kind` = successful, failed | `metrics().window` |
/// | `<p>_failure_rate` | gauge | | failed share 0-1 of the window for rate counters; -1 below `minimum_calls` and for other counters |
/// | `<p>_probe_due_seconds` | gauge | | open: seconds until a probe is admitted; isolated: +Inf; otherwise 0 |
/// | `<p>_transitions_total` | counter | `from`, `to` | `metrics().transitions` |
///
/// `_transitions_total` has a series for each of closed->open,
/// open->half_open, half_open->open and half_open->closed, and for every
/// other pair once it has happened.
///
/// With `prometheus_naming::resilience4j`: `resilience4j_circuitbreaker_state`
/// (isolated is `forced_open`), `..._calls_seconds` (a summary: `_count` by
/// kind; `_sum` 0), `..._calls_seconds_max` (0), `..._not_permitted_calls_total`,
/// `..._buffered_calls` (the window), `..._slow_calls` (slow successes
/// since the last state change, `kind="successful"`; `kind="failed"` 0),
/// `..._failure_rate` and `..._slow_call_rate` in percent (-1 below the
/// minimum, and for counters without a rate). Snapshots carry no call
/// durations, so `_sum` and `_max` are 0.
///
/// Label values are escaped, invalid UTF-8 becomes U+FFFD, and no two
/// series share a name and labels: a breaker whose `name` label would repeat
/// an earlier one (two names that differ only in invalid bytes, or one
/// breaker added twice) gets " #2", " #3", ... appended.
///
/// Cost: `add()` takes one `metrics()` snapshot per breaker (its lock is
/// held only for that copy) and keeps a small row; formatting happens in
/// `finish()`, holding no breaker lock, so calls on other threads go on.
///
/// Not thread-safe: one writer belongs to one thread. The breakers and sets
/// it reads may be used concurrently.
class prometheus_writer {
 public:
  /// Writes to `out` when finished. Throws `std::invalid_argument` naming
  /// `prometheus_settings.prefix` when the prefix is invalid.
  explicit prometheus_writer(std::ostream& out, prometheus_settings settings = {})
      : out_(&out), settings_(std::move(settings)) {
    if (settings_.naming == prometheus_naming::prefixed) validate(settings_);
  }

  prometheus_writer(const prometheus_writer&) = delete;
  prometheus_writer& operator=(const prometheus_writer&) = delete;

  /// Writes what was added, unless `finish()` already did. Errors of the
  /// stream are the stream's (its state bits); nothing is thrown.
  ~prometheus_writer() {
    if (finished_) return;
#if defined(__cpp_exceptions)
    try {
      finish();
    } catch (...) {
    }
#else
    finish();
#endif
  }

  /// Takes a snapshot of `target`: a breaker (one series per family) or a
  /// set (one per peer, sorted by peer id). Throws `std::logic_error` after
  /// `finish()`.
  template <class T>
  prometheus_writer& add(const T& target) {
    if (finished_) detail::fail<std::logic_error>("prometheus_writer::add after finish()");
    const auto first = rows_.size();
    detail::append_rows(rows_, target);
    labels_.reserve(rows_.size());
    for (auto i = first; i < rows_.size(); ++i) labels_.push_back(unique_label(rows_[i].name));
    return *this;
  }

  /// Writes every family to the stream, once; later calls do nothing.
  void finish() {
    if (finished_) return;
    finished_ = true;
    std::string text;
    text.reserve(rows_.size() * (settings_.naming == prometheus_naming::prefixed ? 1600 : 1500) + 4096);
    if (settings_.naming == prometheus_naming::prefixed) {
      write_prefixed(text);
    } else {
      write_resilience4j(text);
    }
    out_->write(text.data(), static_cast<std::streamsize>(text.size()));
    out_->flush();
    rows_.clear();
    labels_.clear();
  }

 private:
  // ---- Labels -----------------------------------------------------------

  static void append_escaped(std::string& out, std::string_view raw) {
    detail::append_utf8(out, raw, [](std::string& o, std::string_view ch) {
      if (ch.size() == 1) {
        switch (ch[0]) {
          case '\\': o += "\\\\"; return;
          case '"': o += "\\\""; return;
          case '\n': o += "\\n"; return;
          default: break;
        }
      }
      o += ch;
    });
  }

  // The escaped value of the `name` label, distinct from every earlier one.
  std::string unique_label(std::string_view raw) {
    std::string value;
    append_escaped(value, raw);
    return names_.take(std::move(value));
  }

  // ---- Families ---------------------------------------------------------

  void header(std::string& t, std::string_view name, std::string_view type, std::string_view help) const {
    t += "# HELP ";
    t += name;
    t += ' ';
    t += help;
    t += "\n# TYPE ";
    t += name;
    t += ' ';
    t += type;
    t += '\n';
  }

  // `<family><suffix>{<before>,name="...",<after>} ` (either may be empty).
  // The prefixed naming puts its labels after `name`; resilience4j's
  // follows Micrometer, which sorts them (`kind` before, `state` after).
  void series(std::string& t, std::string_view family, std::string_view suffix, std::size_t row,
              std::string_view before, std::string_view after = {}) const {
    t += family;
    t += suffix;
    t += '{';
    if (!before.empty()) {
      t += before;
      t += ',';
    }
    t += "name=\"";
    t += labels_[row];
    t += '"';
    if (!after.empty()) {
      t += ',';
      t += after;
    }
    t += "} ";
  }

  void value(std::string& t, std::uint64_t v) const {
    detail::append_uint(t, v);
    t += '\n';
  }
  void value(std::string& t, double v) const {
    detail::append_double(t, v);
    t += '\n';
  }

  static bool always_listed(state from, state to) {
    return (from == state::closed && to == state::open) || (from == state::open && to == state::half_open) ||
           (from == state::half_open && (to == state::open || to == state::closed));
  }

  static double probe_due(const detail::breaker_row& r) {
    return r.probe_due ? detail::seconds(*r.probe_due) : std::numeric_limits<double>::infinity();
  }

  void write_prefixed(std::string& t) const {
    const std::string& p = settings_.prefix;
    const auto n = rows_.size();
    std::string f;

    f = p + "_state";
    header(t, f, "gauge", "Circuit state: 1 for the current state, 0 for the others.");
    for (std::size_t i = 0; i < n; ++i) {
      for (const auto s : all_states) {
        std::string extra = "state=\"";
        extra += to_string(s);
        extra += '"';
        series(t, f, "", i, "", extra);
        value(t, std::uint64_t{rows_[i].current == s ? 1u : 0u});
      }
    }

    f = p + "_calls_total";
    header(t, f, "counter", "Admitted calls by how they ended (slow successes count as failed).");
    for (std::size_t i = 0; i < n; ++i) {
      series(t, f, "", i, "", "kind=\"successful\"");
      value(t, rows_[i].total.successes);
      series(t, f, "", i, "", "kind=\"failed\"");
      value(t, rows_[i].total.failures);
      series(t, f, "", i, "", "kind=\"ignored\"");
      value(t, rows_[i].total.ignored);
    }

    f = p + "_slow_calls_total";
    header(t, f, "counter", "Successes counted as failures because they were slow.");
    for (std::size_t i = 0; i < n; ++i) {
      series(t, f, "", i, "");
      value(t, rows_[i].total.slow);
    }

    f = p + "_not_permitted_calls_total";
    header(t, f, "counter", "Calls the breaker refused.");
    for (std::size_t i = 0; i < n; ++i) {
      series(t, f, "", i, "");
      value(t, rows_[i].total.rejections);
    }

    f = p + "_window_calls";
    header(t, f, "gauge", "Calls the counter holds now (its window).");
    for (std::size_t i = 0; i < n; ++i) {
      series(t, f, "", i, "", "kind=\"successful\"");
      value(t, rows_[i].window.successes);
      series(t, f, "", i, "", "kind=\"failed\"");
      value(t, rows_[i].window.failures);
    }

    f = p + "_failure_rate";
    header(t, f, "gauge", "Failed share (0-1) of the window's calls; -1 below minimum_calls or without a rate rule.");
    for (std::size_t i = 0; i < n; ++i) {
      series(t, f, "", i, "");
      value(t, rows_[i].failure_share);
    }

    f = p + "_probe_due_seconds";
    header(t, f, "gauge", "Seconds until a probe is admitted: the time left while open, +Inf while isolated, else 0.");
    for (std::size_t i = 0; i < n; ++i) {
      series(t, f, "", i, "");
      value(t, probe_due(rows_[i]));
    }

    f = p + "_transitions_total";
    header(t, f, "counter", "State changes since the breaker was made, by (from, to); reset() of a closed one is closed to closed.");
    for (std::size_t i = 0; i < n; ++i) {
      for (const auto from : all_states) {
        for (const auto to : all_states) {
          const auto count = rows_[i].transitions(from, to);
          if (count == 0 && !always_listed(from, to)) continue;
          std::string extra = "from=\"";
          extra += to_string(from);
          extra += "\",to=\"";
          extra += to_string(to);
          extra += '"';
          series(t, f, "", i, "", extra);
          value(t, count);
        }
      }
    }
  }

  static std::string_view resilience4j_state(state s) {
    switch (s) {
      case state::closed: return "closed";
      case state::open: return "open";
      case state::half_open: return "half_open";
      case state::isolated: return "forced_open";
      case state::disabled: return "disabled";
    }
    return "unknown";
  }

  static double percent(double share) { return share < 0 ? -1.0 : share * 100.0; }

  void write_resilience4j(std::string& t) const {
    const auto n = rows_.size();
    constexpr std::string_view base = "resilience4j_circuitbreaker";
    std::string f;

    f = std::string(base) + "_state";
    header(t, f, "gauge", "The states of the circuit breaker");
    for (std::size_t i = 0; i < n; ++i) {
      for (const auto s : all_states) {
        std::string after = "state=\"";
        after += resilience4j_state(s);
        after += '"';
        series(t, f, "", i, "", after);
        value(t, std::uint64_t{rows_[i].current == s ? 1u : 0u});
      }
    }

    f = std::string(base) + "_calls_seconds";
    header(t, f, "summary", "Total number of calls");
    for (std::size_t i = 0; i < n; ++i) {
      const auto& c = rows_[i].total;
      const std::pair<std::string_view, std::uint64_t> kinds[] = {
          {"kind=\"successful\"", c.successes}, {"kind=\"failed\"", c.failures}, {"kind=\"ignored\"", c.ignored}};
      for (const auto& [kind, count] : kinds) {
        series(t, f, "_count", i, kind);
        value(t, count);
        series(t, f, "_sum", i, kind);
        value(t, 0.0);
      }
    }

    f = std::string(base) + "_calls_seconds_max";
    header(t, f, "gauge", "Total number of calls");
    for (std::size_t i = 0; i < n; ++i) {
      for (const auto kind : {"kind=\"successful\"", "kind=\"failed\"", "kind=\"ignored\""}) {
        series(t, f, "", i, kind);
        value(t, 0.0);
      }
    }

    f = std::string(base) + "_not_permitted_calls_total";
    header(t, f, "counter", "Total number of not permitted calls");
    for (std::size_t i = 0; i < n; ++i) {
      series(t, f, "", i, "kind=\"not_permitted\"");
      value(t, rows_[i].total.rejections);
    }

    f = std::string(base) + "_buffered_calls";
    header(t, f, "gauge", "The number of buffered calls stored in the ring buffer");
    for (std::size_t i = 0; i < n; ++i) {
      series(t, f, "", i, "kind=\"failed\"");
      value(t, rows_[i].window.failures);
      series(t, f, "", i, "kind=\"successful\"");
      value(t, rows_[i].window.successes);
    }

    f = std::string(base) + "_slow_calls";
    header(t, f, "gauge", "The number of slow calls which were slower than a certain threshold");
    for (std::size_t i = 0; i < n; ++i) {
      series(t, f, "", i, "kind=\"failed\"");
      value(t, std::uint64_t{0});
      series(t, f, "", i, "kind=\"successful\"");
      value(t, rows_[i].since_transition.slow);
    }

    f = std::string(base) + "_failure_rate";
    header(t, f, "gauge", "The failure rate of the circuit breaker");
    for (std::size_t i = 0; i < n; ++i) {
      series(t, f, "", i, "");
      value(t, percent(rows_[i].failure_share));
    }

    f = std::string(base) + "_slow_call_rate";
    header(t, f, "gauge", "The slow call of the circuit breaker");
    for (std::size_t i = 0; i < n; ++i) {
      series(t, f, "", i, "");
      value(t, percent(rows_[i].slow_share));
    }
  }

  std::ostream* out_;
  prometheus_settings settings_;
  std::vector<detail::breaker_row> rows_;
  std::vector<std::string> labels_;  // escaped, unique `name` values, by row
  detail::unique_names names_;
  bool finished_ = false;
};

}  // namespace circuit
