#pragma once
// A status page an operator reads at a glance, and a readiness payload:
// one row (one entry) per breaker or peer of a set. No dependency.

#include <chrono>
#include <cstdint>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include <circuit/detail/observe.hpp>
#include <circuit/options.hpp>
#include <circuit/state.hpp>

namespace circuit {

/// Settings of `write_status_html`. A value; thread-safe to copy.
struct status_page_settings {
  /// The page's title and heading.
  std::string title = "Circuit breakers";
  /// How often the page reloads itself (a meta refresh); at least 1 s.
  std::chrono::seconds refresh = std::chrono::seconds(5);
};

/// Throws `std::invalid_argument` naming `status_page_settings.refresh`
/// when it is below one second.
inline void validate(const status_page_settings& s) {
  if (s.refresh < std::chrono::seconds(1)) detail::invalid("status_page_settings", "refresh", "must be at least 1 second");
}

/// The background colour of a row in state `s` on the status page, as
/// CSS `#rrggbb`: closed green, open red, half_open amber, isolated
/// purple, disabled grey.
[[nodiscard]] constexpr std::string_view status_colour(state s) noexcept {
  switch (s) {
    case state::closed: return "#bbf7d0";
    case state::open: return "#dc2626";
    case state::half_open: return "#f59e0b";
    case state::isolated: return "#7c3aed";
    case state::disabled: return "#9ca3af";
  }
  return "#ffffff";
}

namespace detail {

inline void append_html(std::string& out, std::string_view raw) {
  append_utf8(out, raw, [](std::string& o, std::string_view ch) {
    if (ch.size() == 1) {
      switch (ch[0]) {
        case '&': o += "&amp;"; return;
        case '<': o += "&lt;"; return;
        case '>': o += "&gt;"; return;
        case '"': o += "&quot;"; return;
        case '\'': o += "&#39;"; return;
        case '\n': o += "&#10;"; return;
        case '\r': o += "&#13;"; return;
        default: break;
      }
      const auto c = static_cast<unsigned char>(ch[0]);
      if (c < 0x20 && c != '\t') {  // not allowed in HTML text: shown as U+FFFD
        o += "\xEF\xBF\xBD";
        return;
      }
    }
    o += ch;
  });
}

inline void append_json_string(std::string& out, std::string_view raw) {
  out += '"';
  append_utf8(out, raw, [](std::string& o, std::string_view ch) {
    if (ch.size() == 1) {
      const auto c = static_cast<unsigned char>(ch[0]);
      if (c == '"' || c == '\\') {
        o += '\\';
        o += ch;
        return;
      }
      if (c < 0x20) {
        static constexpr char hex[] = "0123456789abcdef";
        o += "\\u00";
        o += hex[c >> 4];
        o += hex[c & 15];
        return;
      }
    }
    o += ch;
  });
  out += '"';
}

// "4.2 s", "250 ms": time to the next probe, short.
inline void append_due(std::string& out, std::chrono::nanoseconds d) {
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
  if (ms < 1000) {
    append_uint(out, static_cast<std::uint64_t>(ms));
    out += " ms";
  } else {
    append_uint(out, static_cast<std::uint64_t>(ms / 1000));
    out += '.';
    append_uint(out, static_cast<std::uint64_t>((ms % 1000) / 100));
    out += " s";
  }
}

}  // namespace detail

/// Writes one self-contained HTML page for `target` (a breaker, or a set:
/// a row per peer, sorted by peer id). Each row is
/// `<tr data-peer="<id>" data-state="<state>">`, its background the state's
/// `status_colour`, with the state's `to_string` word, the failures in the
/// counter's window, the time to the next probe, and the totals. No script,
/// no external resource; the page reloads itself every `settings.refresh`.
/// Ids are HTML-escaped; invalid UTF-8 becomes U+FFFD.
///
/// Takes one `metrics()` snapshot per breaker and formats holding no lock.
/// Thread-safe as far as `target` is: breakers and sets are.
template <class T>
void write_status_html(std::ostream& out, const T& target, const status_page_settings& settings = {}) {
  validate(settings);
  std::vector<detail::breaker_row> rows;
  detail::append_rows(rows, target);

  std::size_t by_state[state_count] = {};
  for (const auto& r : rows) ++by_state[static_cast<std::size_t>(r.current)];

  std::string t;
  t.reserve(2048 + rows.size() * 400);
  t += "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<meta http-equiv=\"refresh\" content=\"";
  detail::append_uint(t, static_cast<std::uint64_t>(settings.refresh.count()));
  t += "\">\n<title>";
  detail::append_html(t, settings.title);
  t += "</title>\n<style>\n"
       "body{font-family:sans-serif;margin:16px;background:#ffffff;color:#111827}\n"
       "table{border-collapse:separate;border-spacing:0 3px}\n"
       "th,td{padding:4px 12px;text-align:left;height:22px}\n"
       "th{background:#1f2937;color:#ffffff}\n"
       "td.n{text-align:right;font-variant-numeric:tabular-nums}\n";
  for (const auto s : all_states) {
    t += "tr.";
    t += to_string(s);
    t += " td{background:";
    t += status_colour(s);
    t += s == state::open || s == state::isolated ? ";color:#ffffff" : ";color:#111827";
    t += "}\n";
  }
  t += "</style>\n</head>\n<body>\n<h1>";
  detail::append_html(t, settings.title);
  t += "</h1>\n<p class=\"summary\">";
  detail::append_uint(t, rows.size());
  t += rows.size() == 1 ? " circuit" : " circuits";
  for (const auto s : all_states) {
    t += ", ";
    detail::append_uint(t, by_state[static_cast<std::size_t>(s)]);
    t += ' ';
    t += to_string(s);
  }
  t += "</p>\n<table>\n<thead><tr><th>peer</th><th>state</th><th>failures in window</th><th>next probe</th>"
       "<th>successes</th><th>failures</th><th>ignored</th><th>rejected</th></tr></thead>\n<tbody>\n";
  for (const auto& r : rows) {
    t += "<tr data-peer=\"";
    detail::append_html(t, r.name);
    t += "\" data-state=\"";
    t += to_string(r.current);
    t += "\" class=\"";
    t += to_string(r.current);
    t += "\"><td>";
    detail::append_html(t, r.name);
    t += "</td><td>";
    t += to_string(r.current);
    t += "</td><td class=\"n\">";
    detail::append_uint(t, r.window.failures);
    t += "</td><td>";
    if (r.current == state::isolated) {
      t += "after reset()";
    } else if (r.current == state::open && r.probe_due) {
      t += "in ";
      detail::append_due(t, *r.probe_due);
    } else if (r.current == state::half_open) {
      t += "now";
    } else {
      t += "&ndash;";
    }
    t += "</td><td class=\"n\">";
    detail::append_uint(t, r.total.successes);
    t += "</td><td class=\"n\">";
    detail::append_uint(t, r.total.failures);
    t += "</td><td class=\"n\">";
    detail::append_uint(t, r.total.ignored);
    t += "</td><td class=\"n\">";
    detail::append_uint(t, r.total.rejections);
    t += "</td></tr>\n";
  }
  t += "</tbody>\n</table>\n</body>\n</html>\n";
  out.write(t.data(), static_cast<std::streamsize>(t.size()));
}

/// Writes pycircuitbreaker's readiness payload for `target` (a breaker, or
/// a set's peers sorted by id): `{"circuits": {"<id>": "<state>", ...}}`,
/// states as `to_string` words. Ids are JSON-escaped with invalid UTF-8 as
/// U+FFFD; ids that would repeat get " #2", " #3", ... appended, so the
/// keys are distinct.
///
/// Takes one `metrics()` snapshot per breaker. Thread-safe as far as
/// `target` is: breakers and sets are.
template <class T>
void write_status_json(std::ostream& out, const T& target) {
  std::vector<detail::breaker_row> rows;
  detail::append_rows(rows, target);
  detail::unique_names names;
  std::string t = "{\"circuits\": {";
  bool first = true;
  for (const auto& r : rows) {
    if (!first) t += ", ";
    first = false;
    std::string clean;
    detail::append_utf8(clean, r.name, [](std::string& o, std::string_view ch) { o += ch; });
    detail::append_json_string(t, names.take(std::move(clean)));
    t += ": \"";
    t += to_string(r.current);
    t += '"';
  }
  t += "}}\n";
  out.write(t.data(), static_cast<std::streamsize>(t.size()));
}

}  // namespace circuit
