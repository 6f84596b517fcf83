#pragma once
// circuit-tune's parts, header-only so that its tests and benchmark use
// them directly: the CSV trace reader, the --config reader, and the JSON,
// text, SVG and HTML writers. main.cpp puts them together.

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <unistd.h>
#include <utility>
#include <variant>
#include <vector>

#include <circuit/consecutive_failures.hpp>
#include <circuit/failure_rate_last_calls.hpp>
#include <circuit/failure_rate_window.hpp>
#include <circuit/manual_clock.hpp>
#include <circuit/net_failures.hpp>
#include <circuit/options.hpp>
#include <circuit/replay.hpp>
#include <circuit/sliding_window.hpp>

namespace circuit_tune {

/// Bad input (a bad row, a bad --config word, no calls): exit 2, with this message.
struct input_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// ------------------------------------------------------------ numbers ----

namespace detail {

constexpr bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }

constexpr char lower(char c) noexcept { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

inline bool iequals(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

inline std::string_view trim(std::string_view s) noexcept {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

// Digits only, into an unsigned value; false on anything else or overflow.
inline bool parse_digits(std::string_view s, std::uint64_t& out) noexcept {
  if (s.empty()) return false;
  std::uint64_t v = 0;
  for (const char c : s) {
    if (!is_digit(c)) return false;
    const auto d = static_cast<std::uint64_t>(c - '0');
    if (v > (std::numeric_limits<std::uint64_t>::max() - d) / 10) return false;
    v = v * 10 + d;
  }
  out = v;
  return true;
}

// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil).
constexpr std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) noexcept {
  y -= m <= 2 ? 1 : 0;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

struct civil {
  std::int64_t year;
  unsigned month, day;
};
constexpr civil civil_from_days(std::int64_t z) noexcept {
  z += 719468;
  const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const auto doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const std::int64_t y = static_cast<std::int64_t>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  const unsigned d = doy - (153 * mp + 2) / 5 + 1;
  const unsigned m = mp < 10 ? mp + 3 : mp - 9;
  return {y + (m <= 2 ? 1 : 0), m, d};
}

constexpr bool leap(std::int64_t y) noexcept { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }
constexpr unsigned days_in_month(std::int64_t y, unsigned m) noexcept {
  constexpr std::array<unsigned, 12> days = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && leap(y) ? 29 : days[m - 1];
}

// `n` fixed digits at s[at...]; false if any is not a digit.
inline bool fixed_digits(std::string_view s, std::size_t at, std::size_t n, unsigned& out) noexcept {
  if (at + n > s.size()) return false;
  unsigned v = 0;
  for (std::size_t i = at; i < at + n; ++i) {
    if (!is_digit(s[i])) return false;
    v = v * 10 + static_cast<unsigned>(s[i] - '0');
  }
  out = v;
  return true;
}

// Up to `max_digits` fraction digits as a count of 10^-max_digits units.
// False when there are more digits than that (or none).
inline bool fraction(std::string_view digits, std::size_t max_digits, std::int64_t& out) noexcept {
  if (digits.empty() || digits.size() > max_digits) return false;
  std::int64_t v = 0;
  for (const char c : digits) {
    if (!is_digit(c)) return false;
    v = v * 10 + (c - '0');
  }
  for (auto i = digits.size(); i < max_digits; ++i) v *= 10;
  out = v;
  return true;
}

inline constexpr std::int64_t ns_per_s = 1'000'000'000;

[[noreturn]] inline void fail_at(const std::string& name, std::size_t line, const std::string& what) {
  throw input_error(name + ":" + std::to_string(line) + ": " + what);
}
[[noreturn]] inline void fail_config(const std::string& text, const std::string& what) {
  throw input_error("--config '" + text + "': " + what);
}

}  // namespace detail

/// An RFC 3339 time (`2026-12-04T10:00:00.123Z`, any offset, `T`, `t` or
/// a space between date and time, seconds 60 taken as the next minute's
/// 0) or decimal epoch seconds (`1764842400.123`), as nanoseconds since
/// the Unix epoch, exactly (up to 9 fraction digits). Empty when it is
/// neither, or does not fit in 64-bit nanoseconds. Thread-safe.
inline std::optional<std::int64_t> parse_timestamp(std::string_view s) noexcept {
  using namespace detail;
  if (s.size() >= 10 && s[4] == '-') {
    unsigned y, mo, d, h, mi, sec;
    if (!fixed_digits(s, 0, 4, y) || s[4] != '-' || !fixed_digits(s, 5, 2, mo) || s.size() < 8 || s[7] != '-' ||
        !fixed_digits(s, 8, 2, d)) {
      return std::nullopt;
    }
    if (s.size() < 20 || (s[10] != 'T' && s[10] != 't' && s[10] != ' ')) return std::nullopt;
    if (!fixed_digits(s, 11, 2, h) || s[13] != ':' || !fixed_digits(s, 14, 2, mi) || s[16] != ':' ||
        !fixed_digits(s, 17, 2, sec)) {
      return std::nullopt;
    }
    if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 || sec > 60) return std::nullopt;
    std::size_t at = 19;
    std::int64_t frac = 0;
    if (at < s.size() && s[at] == '.') {
      const auto begin = ++at;
      while (at < s.size() && is_digit(s[at])) ++at;
      if (!fraction(s.substr(begin, at - begin), 9, frac)) return std::nullopt;
    }
    if (at >= s.size()) return std::nullopt;
    std::int64_t offset = 0;  // seconds east of UTC
    if (s[at] == 'Z' || s[at] == 'z') {
      ++at;
    } else if (s[at] == '+' || s[at] == '-') {
      unsigned oh, om;
      if (!fixed_digits(s, at + 1, 2, oh) || at + 3 >= s.size() || s[at + 3] != ':' ||
          !fixed_digits(s, at + 4, 2, om) || oh > 23 || om > 59) {
        return std::nullopt;
      }
      offset = (s[at] == '-' ? -1 : 1) * static_cast<std::int64_t>(oh * 3600 + om * 60);
      at += 6;
    } else {
      return std::nullopt;
    }
    if (at != s.size()) return std::nullopt;
    // 1678..2261 fit in signed 64-bit nanoseconds; checked exactly below.
    if (y < 1677 || y > 2262) return std::nullopt;
    const auto seconds = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec - offset;
    std::int64_t ns;
    if (__builtin_mul_overflow(seconds, ns_per_s, &ns) || __builtin_add_overflow(ns, frac, &ns)) return std::nullopt;
    return ns;
  }
  // Decimal epoch seconds, optionally negative.
  bool negative = false;
  if (!s.empty() && s.front() == '-') {
    negative = true;
    s.remove_prefix(1);
  }
  const auto dot = s.find('.');
  std::uint64_t whole;
  if (!parse_digits(s.substr(0, dot), whole)) return std::nullopt;
  std::int64_t frac = 0;
  if (dot != std::string_view::npos && !fraction(s.substr(dot + 1), 9, frac)) return std::nullopt;
  if (whole > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max() / detail::ns_per_s)) {
    return std::nullopt;
  }
  std::int64_t ns;
  if (__builtin_add_overflow(static_cast<std::int64_t>(whole) * detail::ns_per_s, frac, &ns)) return std::nullopt;
  return negative ? -ns : ns;
}

/// What a latency field said.
enum class latency_status { ok, negative, not_a_number };

/// Decimal milliseconds (`12`, `12.5`, `.5`) as nanoseconds; digits past
/// the nanosecond are dropped. Thread-safe.
inline latency_status parse_latency_ms(std::string_view s, std::int64_t& out) noexcept {
  using namespace detail;
  bool negative = false;
  if (!s.empty() && s.front() == '-') {
    negative = true;
    s.remove_prefix(1);
  }
  const auto dot = s.find('.');
  const auto whole_digits = s.substr(0, dot);
  std::uint64_t whole = 0;
  if (!whole_digits.empty() && !parse_digits(whole_digits, whole)) return latency_status::not_a_number;
  std::int64_t frac = 0;
  if (dot != std::string_view::npos) {
    auto digits = s.substr(dot + 1);
    for (const char c : digits) {
      if (!is_digit(c)) return latency_status::not_a_number;
    }
    if (digits.empty() && whole_digits.empty()) return latency_status::not_a_number;
    if (digits.size() > 6) digits = digits.substr(0, 6);
    if (!digits.empty()) (void)fraction(digits, 6, frac);
  } else if (whole_digits.empty()) {
    return latency_status::not_a_number;
  }
  if (whole > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max() / 1'000'000 - 1)) {
    return latency_status::not_a_number;
  }
  const auto ns = static_cast<std::int64_t>(whole) * 1'000'000 + frac;
  if (negative && ns != 0) return latency_status::negative;
  out = ns;
  return latency_status::ok;
}

/// `success`, `failure`, `ignored` (any case), or an HTTP status 100-599
/// (5xx a failure, any other a success). Thread-safe.
inline std::optional<circuit::outcome> parse_outcome(std::string_view s) noexcept {
  using circuit::outcome;
  if (s.size() == 3 && detail::is_digit(s[0]) && detail::is_digit(s[1]) && detail::is_digit(s[2])) {
    const int code = (s[0] - '0') * 100 + (s[1] - '0') * 10 + (s[2] - '0');
    if (code < 100 || code > 599) return std::nullopt;
    return code >= 500 ? outcome::failure : outcome::success;
  }
  if (detail::iequals(s, "success")) return outcome::success;
  if (detail::iequals(s, "failure")) return outcome::failure;
  if (detail::iequals(s, "ignored")) return outcome::ignored;
  return std::nullopt;
}

/// A duration with a unit (`ns`, `us`, `ms`, `s`, `min`, `h`) and maybe
/// decimals (`1.5s`), exactly in nanoseconds; empty when malformed, not a
/// whole number of nanoseconds, or too long. Thread-safe.
inline std::optional<std::int64_t> parse_duration(std::string_view s) noexcept {
  using namespace detail;
  std::size_t end = 0;
  while (end < s.size() && (is_digit(s[end]) || s[end] == '.')) ++end;
  const auto number = s.substr(0, end), unit = s.substr(end);
  struct unit_def {
    std::string_view name;
    std::int64_t ns;
    int exponent;  // ns == c * 10^exponent with c in {1, 6, 36}
  };
  constexpr std::array<unit_def, 6> units = {{{"ns", 1, 0},
                                              {"us", 1'000, 3},
                                              {"ms", 1'000'000, 6},
                                              {"s", 1'000'000'000, 9},
                                              {"min", 60'000'000'000, 10},
                                              {"h", 3'600'000'000'000, 11}}};
  const unit_def* u = nullptr;
  for (const auto& d : units) {
    if (unit == d.name) u = &d;
  }
  if (u == nullptr || number.empty()) return std::nullopt;
  const auto dot = number.find('.');
  std::uint64_t whole = 0;
  const auto whole_digits = number.substr(0, dot);
  if (!whole_digits.empty() && !parse_digits(whole_digits, whole)) return std::nullopt;
  std::int64_t ns;
  if (whole > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()) ||
      __builtin_mul_overflow(static_cast<std::int64_t>(whole), u->ns, &ns)) {
    return std::nullopt;
  }
  if (dot != std::string_view::npos) {
    auto digits = number.substr(dot + 1);
    if (digits.find('.') != std::string_view::npos) return std::nullopt;
    if (digits.empty() && whole_digits.empty()) return std::nullopt;
    while (!digits.empty() && digits.back() == '0') digits.remove_suffix(1);
    if (digits.size() > static_cast<std::size_t>(u->exponent) + 2) return std::nullopt;  // finer than 1 ns
    // f / 10^k of the unit, exactly: unit = c * 10^e.
    std::int64_t f = 0;
    for (const char c : digits) f = f * 10 + (c - '0');
    const auto pow10 = [](std::size_t n) {
      std::int64_t p = 1;
      while (n-- > 0) p *= 10;
      return p;
    };
    const auto e = static_cast<std::size_t>(u->exponent), k = digits.size();
    const auto c = u->ns / pow10(e);
    std::int64_t part;
    if (k <= e) {
      part = f * c * pow10(e - k);
    } else {
      if ((f * c) % pow10(k - e) != 0) return std::nullopt;  // finer than 1 ns
      part = f * c / pow10(k - e);
    }
    if (__builtin_add_overflow(ns, part, &ns)) return std::nullopt;
  }
  return ns;
}

// ------------------------------------------------------------- traces ----

/// Reads a CSV trace (see the README): a header row naming the columns in
/// any order (`timestamp`, `outcome`, `latency_ms`, optional `peer`; others
/// ignored), RFC 4180 quoting, blank lines skipped. Throws `input_error`
/// with `NAME:LINE: what` (physical lines, the header is line 1) for a bad
/// row, or `NAME: no calls`. Thread-safe.
inline std::vector<circuit::recorded_call> parse_trace(std::string_view text, const std::string& name) {
  std::vector<circuit::recorded_call> calls;
  calls.reserve(static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n')));  // about one row a line
  std::size_t pos = 0, line = 1;
  if (text.substr(0, 3) == "\xEF\xBB\xBF") pos = 3;  // a UTF-8 byte order mark
  std::vector<std::string_view> fields;
  std::vector<std::string> unquoted;  // quoted fields with "" inside, unescaped
  // One record into `fields`; false at the end of the text.
  const auto next_record = [&]() -> bool {
    fields.clear();
    unquoted.clear();
    if (pos >= text.size()) return false;
    const auto start_line = line;
    for (;;) {
      // Leading blanks of a field.
      auto p = pos;
      while (p < text.size() && (text[p] == ' ' || text[p] == '\t')) ++p;
      if (p < text.size() && text[p] == '"') {
        ++p;
        std::string buffer;
        bool escaped = false;
        auto begin = p;
        for (;;) {
          if (p >= text.size()) detail::fail_at(name, start_line, "unterminated quoted field");
          const char c = text[p];
          if (c == '"') {
            if (p + 1 < text.size() && text[p + 1] == '"') {
              buffer.append(text.substr(begin, p + 1 - begin));
              p += 2;
              begin = p;
              escaped = true;
              continue;
            }
            break;
          }
          if (c == '\n') ++line;
          ++p;
        }
        if (escaped) {
          buffer.append(text.substr(begin, p - begin));
          unquoted.push_back(std::move(buffer));
          fields.push_back(unquoted.back());
        } else {
          fields.push_back(text.substr(begin, p - begin));
        }
        ++p;  // the closing quote
        while (p < text.size() && (text[p] == ' ' || text[p] == '\t' || text[p] == '\r')) ++p;
        if (p < text.size() && text[p] != ',' && text[p] != '\n') {
          detail::fail_at(name, start_line, "characters after a closing quote");
        }
      } else {
        auto e = p;
        while (e < text.size() && text[e] != ',' && text[e] != '\n') ++e;
        fields.push_back(detail::trim(text.substr(p, e - p)));
        p = e;
      }
      if (p < text.size() && text[p] == ',') {
        pos = p + 1;
        continue;
      }
      // The end of the record.
      pos = p < text.size() ? p + 1 : p;
      if (p < text.size()) ++line;
      return true;
    }
  };
  // Quoted fields point into `unquoted`, which must not reallocate under them.
  unquoted.reserve(64);

  // The header (the first non-blank record).
  std::size_t header_line = 0;
  for (;;) {
    header_line = line;
    if (!next_record()) throw input_error(name + ": no calls");
    if (!(fields.size() == 1 && fields[0].empty())) break;
  }
  constexpr std::size_t none = std::numeric_limits<std::size_t>::max();
  std::size_t ts = none, oc = none, lat = none, peer = none;
  for (std::size_t i = 0; i < fields.size(); ++i) {
    const auto f = detail::trim(fields[i]);
    const auto take = [&](std::size_t& column, const char* column_name) {
      if (!detail::iequals(f, column_name)) return;
      if (column != none) detail::fail_at(name, header_line, std::string("two '") + column_name + "' columns");
      column = i;
    };
    take(ts, "timestamp");
    take(oc, "outcome");
    take(lat, "latency_ms");
    take(peer, "peer");
  }
  if (ts == none) detail::fail_at(name, header_line, "no 'timestamp' column in the header");
  if (oc == none) detail::fail_at(name, header_line, "no 'outcome' column in the header");
  if (lat == none) detail::fail_at(name, header_line, "no 'latency_ms' column in the header");
  const auto columns = fields.size();

  for (;;) {
    const auto row_line = line;
    if (!next_record()) break;
    if (fields.size() == 1 && fields[0].empty()) continue;  // a blank line
    if (fields.size() < columns) {
      detail::fail_at(name, row_line, "short row: " + std::to_string(fields.size()) + " fields, the header has " +
                         std::to_string(columns));
    }
    circuit::recorded_call c;
    const auto t = parse_timestamp(fields[ts]);
    if (!t) detail::fail_at(name, row_line, "bad timestamp '" + std::string(fields[ts]) + "' (RFC 3339, or decimal epoch seconds)");
    c.at = std::chrono::nanoseconds(*t);
    const auto o = parse_outcome(fields[oc]);
    if (!o) {
      detail::fail_at(name, row_line, "unknown outcome '" + std::string(fields[oc]) +
                         "' (success, failure, ignored, or an HTTP status 100-599)");
    }
    c.result = *o;
    std::int64_t latency = 0;
    switch (parse_latency_ms(fields[lat], latency)) {
      case latency_status::ok: break;
      case latency_status::negative: detail::fail_at(name, row_line, "negative latency_ms '" + std::string(fields[lat]) + "'");
      case latency_status::not_a_number:
        detail::fail_at(name, row_line, "latency_ms '" + std::string(fields[lat]) + "' is not a number of milliseconds");
    }
    c.latency = std::chrono::nanoseconds(latency);
    if (c.at.count() > std::numeric_limits<std::int64_t>::max() - latency) {
      detail::fail_at(name, row_line, "timestamp + latency_ms does not fit in 64-bit nanoseconds");
    }
    if (peer != none) c.peer = fields[peer];
    calls.push_back(std::move(c));
  }
  if (calls.empty()) throw input_error(name + ": no calls");
  return calls;
}

/// Reads the file `path` whole, then `parse_trace(text, path)`. Throws
/// `input_error` naming the file when it cannot be read.
inline std::vector<circuit::recorded_call> read_trace(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw input_error(path + ": cannot open: " + std::strerror(errno));
  std::string text;
  in.seekg(0, std::ios::end);
  const auto size = in.tellg();
  if (size > 0) {
    text.resize(static_cast<std::size_t>(size));
    in.seekg(0);
    in.read(text.data(), size);
  }
  if (!in && !in.eof()) throw input_error(path + ": cannot read");
  return parse_trace(text, path);
}

// ------------------------------------------------------------ configs ----

/// The counters a --config may name.
using any_counter = std::variant<circuit::sliding_window, circuit::consecutive_failures, circuit::net_failures,
                                 circuit::failure_rate_window, circuit::failure_rate_last_calls>;

/// One candidate configuration. A value.
struct config {
  /// The --config text, as given.
  std::string text;
  any_counter counter;
  circuit::options options;
};

/// Reads a --config text: the counter first, then `key=value` words for
/// the counter's fields and the options' (see the README). Throws
/// `input_error` ("--config 'TEXT': ...") naming an unknown word, a bad
/// value, or a setting the library rejects (with its message). Thread-safe.
inline config parse_config(const std::string& text) {
  const auto fail = [&](const std::string& what) { detail::fail_config(text, what); };
  std::vector<std::string_view> words;
  {
    std::string_view s = text;
    while (!s.empty()) {
      const auto b = s.find_first_not_of(" \t");
      if (b == std::string_view::npos) break;
      s.remove_prefix(b);
      const auto e = std::min(s.find_first_of(" \t"), s.size());
      words.push_back(s.substr(0, e));
      s.remove_prefix(e);
    }
  }
  if (words.empty()) fail("empty: name a counter (sliding_window, consecutive_failures, net_failures, "
                          "failure_rate_window, failure_rate_last_calls)");
  config c{text, circuit::sliding_window{}, {}};
  const auto counter_name = words[0];
  if (counter_name == "sliding_window") {
    c.counter = circuit::sliding_window{};
  } else if (counter_name == "consecutive_failures") {
    c.counter = circuit::consecutive_failures{};
  } else if (counter_name == "net_failures") {
    c.counter = circuit::net_failures{};
  } else if (counter_name == "failure_rate_window") {
    c.counter = circuit::failure_rate_window{};
  } else if (counter_name == "failure_rate_last_calls") {
    c.counter = circuit::failure_rate_last_calls{};
  } else {
    fail("unknown word '" + std::string(counter_name) +
         "' (the counter comes first: sliding_window, consecutive_failures, net_failures, failure_rate_window "
         "or failure_rate_last_calls)");
  }

  std::optional<std::int64_t> open_for, open_for_max;
  std::optional<double> multiplier, jitter;
  std::optional<std::uint64_t> seed;
  std::vector<std::string_view> seen;
  for (std::size_t i = 1; i < words.size(); ++i) {
    const auto w = words[i];
    const auto eq = w.find('=');
    if (eq == std::string_view::npos || eq == 0) fail("unknown word '" + std::string(w) + "'");
    const auto key = w.substr(0, eq), value = w.substr(eq + 1);
    if (std::find(seen.begin(), seen.end(), key) != seen.end()) fail("'" + std::string(key) + "' given twice");
    seen.push_back(key);
    const auto bad = [&](const char* what) { fail(std::string(w) + ": " + what); };
    const auto duration = [&]() -> std::int64_t {
      const auto d = parse_duration(value);
      if (!d) bad("not a duration (a number and ns, us, ms, s, min or h, e.g. 1.5s)");
      return *d;
    };
    const auto count = [&]() -> std::uint32_t {
      std::uint64_t v;
      if (!detail::parse_digits(value, v) || v > std::numeric_limits<std::uint32_t>::max()) {
        bad("not a whole number (0 to 4294967295)");
      }
      return static_cast<std::uint32_t>(v);
    };
    const auto real = [&]() -> double {
      double v = 0;
      const auto [p, ec] = std::from_chars(value.data(), value.data() + value.size(), v);
      if (ec != std::errc{} || p != value.data() + value.size() || !std::isfinite(v)) bad("not a number");
      return v;
    };
    const auto ns = [](std::int64_t v) { return std::chrono::nanoseconds(v); };
    bool known = true;
    std::visit(
        [&](auto& k) {
          using K = std::decay_t<decltype(k)>;
          if constexpr (std::is_same_v<K, circuit::sliding_window>) {
            if (key == "max_failures") return void(k.max_failures = count());
            if (key == "window") return void(k.window = ns(duration()));
          } else if constexpr (std::is_same_v<K, circuit::consecutive_failures> ||
                               std::is_same_v<K, circuit::net_failures>) {
            if (key == "threshold") return void(k.threshold = count());
          } else if constexpr (std::is_same_v<K, circuit::failure_rate_window>) {
            if (key == "failure_rate") return void(k.failure_rate = real());
            if (key == "minimum_calls") return void(k.minimum_calls = count());
            if (key == "window") return void(k.window = ns(duration()));
            if (key == "buckets") return void(k.buckets = count());
          } else {
            if (key == "failure_rate") return void(k.failure_rate = real());
            if (key == "minimum_calls") return void(k.minimum_calls = count());
            if (key == "calls") return void(k.calls = count());
          }
          known = false;
        },
        c.counter);
    if (known) continue;
    if (key == "open_for") {
      open_for = duration();
    } else if (key == "half_open_max_calls") {
      c.options.half_open_max_calls = count();
    } else if (key == "success_threshold") {
      c.options.success_threshold = count();
    } else if (key == "slow_call") {
      c.options.slow_call = ns(duration());
    } else if (key == "probe_timeout") {
      c.options.probe_timeout = ns(duration());
    } else if (key == "multiplier") {
      multiplier = real();
    } else if (key == "open_for_max") {
      open_for_max = duration();
    } else if (key == "jitter") {
      jitter = real();
    } else if (key == "seed") {
      std::uint64_t v;
      if (!detail::parse_digits(value, v)) bad("not a whole number");
      seed = v;
    } else {
      fail("unknown word '" + std::string(w) + "'");
    }
  }
  if (multiplier || open_for_max || jitter || seed) {
    circuit::exponential e;
    if (open_for) e.initial = std::chrono::nanoseconds(*open_for);
    if (multiplier) e.multiplier = *multiplier;
    if (open_for_max) e.max = std::chrono::nanoseconds(*open_for_max);
    if (jitter) e.jitter = *jitter;
    // Seeded unless told otherwise, so that the same input gives the same report.
    e.seed = seed.value_or(0);
    c.options.open_for = e;
  } else if (open_for) {
    c.options.open_for = circuit::fixed{std::chrono::nanoseconds(*open_for)};
  }
  // The library's own checks, with its messages.
  try {
    std::visit(
        [&](const auto& k) {
          using K = std::decay_t<decltype(k)>;
          const circuit::circuit_breaker<circuit::manual_clock, K> probe(k, c.options, circuit::manual_clock());
        },
        c.counter);
  } catch (const std::invalid_argument& e) {
    fail(e.what());
  }
  return c;
}

/// Replays `trace` against `c`. Thread-safe.
inline circuit::replay_report run(const circuit::replay_trace& trace, const config& c) {
  return std::visit([&](const auto& k) { return circuit::replay(trace, k, c.options); }, c.counter);
}

// ------------------------------------------------------------- output ----

namespace detail {

// Shortest round-trip form, always with a decimal point or an exponent, so
// that a JSON reader takes seconds as a real number (10.0, not 10).
inline void append_double(std::string& out, double v) {
  std::array<char, 64> buffer{};
  const auto [p, ec] = std::to_chars(buffer.data(), buffer.data() + buffer.size(), v);
  const std::string_view text(buffer.data(), ec == std::errc{} ? static_cast<std::size_t>(p - buffer.data()) : 0);
  out += text;
  if (text.find_first_of(".e") == std::string_view::npos) out += ".0";
}

inline std::string fixed(double v, int decimals) {
  std::array<char, 64> buffer{};
  const auto [p, ec] = std::to_chars(buffer.data(), buffer.data() + buffer.size(), v, std::chars_format::fixed,
                                     decimals);
  return std::string(buffer.data(), ec == std::errc{} ? p : buffer.data());
}

inline void append_json_string(std::string& out, std::string_view s) {
  out += '"';
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    switch (ch) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          std::array<char, 8> u{};
          std::snprintf(u.data(), u.size(), "\\u%04x", c);
          out += u.data();
        } else {
          out += ch;
        }
    }
  }
  out += '"';
}

inline std::string xml_escape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (const char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default:
        // Control characters are not allowed in XML 1.0.
        if (static_cast<unsigned char>(c) < 0x20 && c != '\t' && c != '\n') {
          out += ' ';
        } else {
          out += c;
        }
    }
  }
  return out;
}

inline void append_figures(std::string& out, const circuit::replay_figures& f) {
  out += "\"calls\": " + std::to_string(f.calls);
  out += ", \"trips\": " + std::to_string(f.trips);
  out += ", \"reopens\": " + std::to_string(f.reopens);
  out += ", \"open_seconds\": ";
  append_double(out, f.open_seconds);
  out += ", \"refused\": " + std::to_string(f.refused);
  out += ", \"refused_would_have_succeeded\": " + std::to_string(f.refused_would_have_succeeded);
  out += ", \"failures_kept_off\": " + std::to_string(f.failures_kept_off);
  out += ", \"time_to_trip_seconds\": [";
  for (std::size_t i = 0; i < f.time_to_trip_seconds.size(); ++i) {
    if (i != 0) out += ", ";
    append_double(out, f.time_to_trip_seconds[i]);
  }
  out += "], \"timeline\": [";
  for (std::size_t i = 0; i < f.timeline.size(); ++i) {
    const auto& s = f.timeline[i];
    out += i == 0 ? "\n      " : ",\n      ";
    out += "{\"peer\": ";
    append_json_string(out, s.peer);
    out += ", \"state\": ";
    append_json_string(out, circuit::to_string(s.state));
    out += ", \"from\": ";
    append_double(out, s.from);
    out += ", \"to\": ";
    append_double(out, s.to);
    out += "}";
  }
  out += "]";
}

}  // namespace detail

/// `{"configs": [{"config": TEXT, ...the report's fields...}, ...]}`, in
/// the order given; `peers` only when the trace has peers. Thread-safe.
inline std::string to_json(const std::vector<config>& configs, const std::vector<circuit::replay_report>& reports,
                           bool has_peers) {
  std::string out = "{\"configs\": [";
  for (std::size_t i = 0; i < configs.size(); ++i) {
    const auto& r = reports[i];
    out += i == 0 ? "\n  {" : ",\n  {";
    out += "\"config\": ";
    detail::append_json_string(out, configs[i].text);
    out += ", ";
    detail::append_figures(out, r);
    if (has_peers) {
      out += ", \"peers\": {";
      bool first = true;
      for (const auto& [peer, f] : r.peers) {
        out += first ? "\n    " : ",\n    ";
        first = false;
        detail::append_json_string(out, peer);
        out += ": {";
        detail::append_figures(out, f);
        out += "}";
      }
      out += "}";
    }
    out += "}";
  }
  out += "\n]}\n";
  return out;
}

/// The median of the times to trip, or empty when it never tripped.
inline std::optional<double> median(std::vector<double> v) {
  if (v.empty()) return std::nullopt;
  std::sort(v.begin(), v.end());
  const auto n = v.size();
  return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/// The configurations best first: most calls saved (failures kept off the
/// peer minus refused calls that would have succeeded), then fewest
/// refused successes, then the quickest median trip, then as given.
inline std::vector<std::size_t> ranking(const std::vector<circuit::replay_report>& reports) {
  std::vector<std::size_t> order(reports.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  const auto net = [&](std::size_t i) {
    return static_cast<std::int64_t>(reports[i].failures_kept_off) -
           static_cast<std::int64_t>(reports[i].refused_would_have_succeeded);
  };
  const auto ttt = [&](std::size_t i) {
    return median(reports[i].time_to_trip_seconds).value_or(std::numeric_limits<double>::infinity());
  };
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    if (net(a) != net(b)) return net(a) > net(b);
    if (reports[a].refused_would_have_succeeded != reports[b].refused_would_have_succeeded) {
      return reports[a].refused_would_have_succeeded < reports[b].refused_would_have_succeeded;
    }
    return ttt(a) < ttt(b);
  });
  return order;
}

/// The text table printed without --json.
inline std::string text_table(const std::vector<config>& configs, const std::vector<circuit::replay_report>& reports) {
  const auto order = ranking(reports);
  std::vector<std::size_t> rank(reports.size());
  for (std::size_t r = 0; r < order.size(); ++r) rank[order[r]] = r + 1;
  std::string out;
  char line[256];
  std::snprintf(line, sizeof line, "%4s %6s %7s %10s %9s %9s %9s %11s  %s\n", "rank", "trips", "reopens", "open_s",
                "refused", "cost", "benefit", "median_ttt", "config");
  out += line;
  for (std::size_t i = 0; i < configs.size(); ++i) {
    const auto& r = reports[i];
    const auto m = median(r.time_to_trip_seconds);
    std::snprintf(line, sizeof line, "%4zu %6llu %7llu %10.1f %9llu %9llu %9llu %11s  ", rank[i],
                  static_cast<unsigned long long>(r.trips), static_cast<unsigned long long>(r.reopens),
                  r.open_seconds, static_cast<unsigned long long>(r.refused),
                  static_cast<unsigned long long>(r.refused_would_have_succeeded),
                  static_cast<unsigned long long>(r.failures_kept_off), m ? detail::fixed(*m, 1).c_str() : "-");
    out += line;
    out += configs[i].text;
    out += '\n';
  }
  out += "cost: refused calls that would have succeeded; benefit: failed calls kept off the peer\n";
  return out;
}

// ------------------------------------------------------------ drawing ----

/// The geometry of a timeline, shared by every SVG of a report.
struct layout {
  static constexpr int columns = 1000;  ///< one bucket per pixel
  static constexpr int left = 60;       ///< x of the first column
  static constexpr int width = left + columns + 20;
  static constexpr int title_y = 15, legend_y = 31;
  static constexpr int band_top = 40, band_height = 36;
  static constexpr int rate_top = 86, rate_height = 60;
  static constexpr int marks_top = 152, marks_height = 10;
  static constexpr int axis_y = 178;
  static constexpr int height = 190;
};

/// The fill colour of a state band.
constexpr std::string_view colour_of(circuit::state s) noexcept {
  switch (s) {
    case circuit::state::closed: return "#2ca02c";
    case circuit::state::open: return "#d62728";
    case circuit::state::half_open: return "#ff9f1c";
    case circuit::state::isolated: return "#7f7f7f";
    case circuit::state::disabled: return "#9467bd";
  }
  return "#000000";
}

namespace detail {

inline std::string clock_time(std::int64_t ns, bool with_ms) {
  const auto s = ns >= 0 ? ns / ns_per_s : (ns - ns_per_s + 1) / ns_per_s;
  const auto sub = ns - s * ns_per_s;
  const auto day_s = ((s % 86400) + 86400) % 86400;
  char b[48];
  if (with_ms) {
    std::snprintf(b, sizeof b, "%02d:%02d:%02d.%03d", static_cast<int>(day_s / 3600),
                  static_cast<int>(day_s / 60 % 60), static_cast<int>(day_s % 60),
                  static_cast<int>(sub / 1'000'000));
  } else {
    std::snprintf(b, sizeof b, "%02d:%02d:%02d", static_cast<int>(day_s / 3600), static_cast<int>(day_s / 60 % 60),
                  static_cast<int>(day_s % 60));
  }
  return b;
}

inline std::string date_time(std::int64_t ns) {
  const auto s = ns >= 0 ? ns / ns_per_s : (ns - ns_per_s + 1) / ns_per_s;
  const auto days = s >= 0 ? s / 86400 : (s - 86399) / 86400;
  const auto c = civil_from_days(days);
  char b[32];
  std::snprintf(b, sizeof b, "%04lld-%02u-%02u ", static_cast<long long>(c.year), c.month, c.day);
  return b + clock_time(ns, true) + " UTC";
}

inline std::string seconds_text(double s) {
  if (s < 1) return fixed(s * 1000, 0) + " ms";
  if (s < 120) return fixed(s, s < 10 ? 2 : 1) + " s";
  if (s < 7200) return fixed(s / 60, 1) + " min";
  return fixed(s / 3600, 2) + " h";
}

}  // namespace detail

/// Per-column figures of one peer's calls in the trace (the same for every
/// configuration): failures and decided (success or failure) calls by start.
struct trace_columns {
  std::vector<std::uint32_t> failures, decided;
};

/// `trace_columns` of every peer of `trace`.
inline std::vector<trace_columns> columns_of(const circuit::replay_trace& trace) {
  std::vector<trace_columns> out(trace.peers().size());
  for (auto& c : out) {
    c.failures.assign(layout::columns, 0);
    c.decided.assign(layout::columns, 0);
  }
  const auto origin = trace.first_start().count();
  const auto span = std::max<std::int64_t>(1, trace.last_end().count() - origin);
  for (std::size_t i = 0; i < trace.size(); ++i) {
    const auto col = std::min<std::int64_t>(
        layout::columns - 1, static_cast<std::int64_t>(static_cast<long double>(trace.start_of(i).count() - origin) *
                                                       layout::columns / span));
    auto& c = out[trace.peer_of(i)];
    const auto r = trace.result_of(i);
    if (r == circuit::outcome::ignored) continue;
    ++c.decided[static_cast<std::size_t>(col)];
    if (r == circuit::outcome::failure) ++c.failures[static_cast<std::size_t>(col)];
  }
  return out;
}

/// One SVG timeline: configuration `title` for peer number `peer` of
/// `trace`: state bands (`data-state`), the trace's rolling failure rate,
/// marks for refused calls, a time axis (UTC), `<title>` tooltips. No
/// script, no external resource; the same input gives the same bytes.
/// `standalone` adds the XML declaration for a file of its own.
inline std::string render_svg(const std::string& title, const circuit::replay_report& report,
                              const circuit::replay_trace& trace, std::uint32_t peer, const trace_columns& columns,
                              bool standalone) {
  using detail::fixed;
  using detail::xml_escape;
  constexpr int W = layout::columns;
  const auto& peer_name = trace.peers()[peer];
  const auto origin = trace.first_start().count();
  const double span_s = std::max(1e-9, static_cast<double>(trace.last_end().count() - origin) / 1e9);
  const double col_s = span_s / W;
  std::string out;
  out.reserve(64 * 1024);
  if (standalone) out += "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  out += "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + std::to_string(layout::width) + "\" height=\"" +
         std::to_string(layout::height) + "\" viewBox=\"0 0 " + std::to_string(layout::width) + " " +
         std::to_string(layout::height) + "\" font-family=\"sans-serif\" font-size=\"11\" data-peer=\"" +
         xml_escape(peer_name) + "\">\n";
  out += "<title>" + xml_escape(title) + "</title>\n";
  out += "<rect x=\"0\" y=\"0\" width=\"" + std::to_string(layout::width) + "\" height=\"" +
         std::to_string(layout::height) + "\" fill=\"#ffffff\"/>\n";
  out += "<text x=\"" + std::to_string(layout::left) + "\" y=\"" + std::to_string(layout::title_y) +
         "\" font-size=\"13\" font-weight=\"bold\">" + xml_escape(title) + "</text>\n";
  // Legend, under the title.
  {
    int x = layout::left;
    for (const auto s : {circuit::state::closed, circuit::state::open, circuit::state::half_open}) {
      out += "<rect x=\"" + std::to_string(x) + "\" y=\"" + std::to_string(layout::legend_y - 9) +
             "\" width=\"10\" height=\"10\" fill=\"" + std::string(colour_of(s)) + "\"/><text x=\"" +
             std::to_string(x + 14) + "\" y=\"" + std::to_string(layout::legend_y) + "\">" +
             std::string(circuit::to_string(s)) + "</text>\n";
      x += 80;
    }
    out += "<text x=\"" + std::to_string(x) + "\" y=\"" + std::to_string(layout::legend_y) +
           "\" fill=\"#555555\">(hover for times and counts)</text>\n";
  }
  out += "<text x=\"4\" y=\"" + std::to_string(layout::band_top + 22) + "\">state</text>\n";
  out += "<text x=\"4\" y=\"" + std::to_string(layout::rate_top + 34) + "\">failures</text>\n";
  out += "<text x=\"4\" y=\"" + std::to_string(layout::marks_top + 9) + "\">refused</text>\n";

  // This peer's spans (contiguous in the timeline).
  std::vector<const circuit::replay_span*> spans;
  for (const auto& s : report.timeline) {
    if (s.peer == peer_name) spans.push_back(&s);
  }
  // Time in each state per column.
  constexpr std::size_t states = circuit::state_count;
  std::vector<std::array<double, states>> share(W, std::array<double, states>{});
  for (const auto* s : spans) {
    if (!(s->to > s->from)) continue;
    const auto first = std::clamp(static_cast<int>(s->from / col_s), 0, W - 1);
    const auto last = std::clamp(static_cast<int>(s->to / col_s), 0, W - 1);
    for (int c = first; c <= last; ++c) {
      const double c0 = c * col_s, c1 = (c + 1) * col_s;
      const double overlap = std::min(s->to, c1) - std::max(s->from, c0);
      if (overlap > 0) share[static_cast<std::size_t>(c)][static_cast<std::size_t>(s->state)] += overlap / col_s;
    }
  }
  const auto pure = [&](int c) -> std::optional<circuit::state> {
    std::optional<circuit::state> only;
    for (std::size_t k = 0; k < states; ++k) {
      if (share[static_cast<std::size_t>(c)][k] > 1e-6) {
        if (only) return std::nullopt;
        only = static_cast<circuit::state>(k);
      }
    }
    return only ? only : std::optional<circuit::state>(circuit::state::closed);
  };
  // The span holding time t (seconds), for tooltips.
  const auto span_at = [&](double t) -> const circuit::replay_span* {
    const circuit::replay_span* found = nullptr;
    for (const auto* s : spans) {
      if (s->from <= t && t <= s->to) {
        found = s;
        if (t < s->to) break;
      }
    }
    return found;
  };
  const auto at_text = [&](double t) {
    return detail::clock_time(origin + static_cast<std::int64_t>(std::llround(t * 1e9)), true);
  };
  out += "<g class=\"bands\">\n";
  for (int c = 0; c < W;) {
    if (const auto s = pure(c)) {
      int e = c + 1;
      while (e < W && pure(e) == s) ++e;
      // The exact extent of the spans under the run.
      const auto* a = span_at((c + 0.5) * col_s);
      const auto* b = span_at((e - 0.5) * col_s);
      const double from = a ? a->from : c * col_s, to = b ? b->to : e * col_s;
      out += "<rect data-state=\"" + std::string(circuit::to_string(*s)) + "\" x=\"" +
             std::to_string(layout::left + c) + "\" y=\"" + std::to_string(layout::band_top) + "\" width=\"" +
             std::to_string(e - c) + "\" height=\"" + std::to_string(layout::band_height) + "\" fill=\"" +
             std::string(colour_of(*s)) + "\"><title>" + std::string(circuit::to_string(*s)) + " " +
             at_text(from) + " to " + at_text(to) + " (" + detail::seconds_text(to - from) + ")</title></rect>\n";
      c = e;
      continue;
    }
    // A column with several states: stacked, each as tall as its share.
    double y = layout::band_top;
    std::string tip = at_text(c * col_s) + " to " + at_text((c + 1) * col_s) + ":";
    for (std::size_t k = 0; k < states; ++k) {
      const auto f = share[static_cast<std::size_t>(c)][k];
      if (f > 1e-6) tip += " " + std::string(circuit::to_string(static_cast<circuit::state>(k))) + " " +
                           fixed(f * 100, 0) + "%";
    }
    for (std::size_t k = 0; k < states; ++k) {
      const auto f = share[static_cast<std::size_t>(c)][k];
      if (!(f > 1e-6)) continue;
      const double h = f * layout::band_height;
      const auto st = static_cast<circuit::state>(k);
      out += "<rect data-state=\"" + std::string(circuit::to_string(st)) + "\" x=\"" +
             std::to_string(layout::left + c) + "\" y=\"" + fixed(y, 2) + "\" width=\"1\" height=\"" + fixed(h, 2) +
             "\" fill=\"" + std::string(colour_of(st)) + "\"><title>" + tip + "</title></rect>\n";
      y += h;
    }
    ++c;
  }
  out += "</g>\n";

  // The trace's failure rate, rolling over the last 10 columns.
  constexpr int rolling = 10;
  out += "<rect x=\"" + std::to_string(layout::left) + "\" y=\"" + std::to_string(layout::rate_top) + "\" width=\"" +
         std::to_string(W) + "\" height=\"" + std::to_string(layout::rate_height) +
         "\" fill=\"#f4f4f4\" stroke=\"#cccccc\"/>\n";
  out += "<text x=\"" + std::to_string(layout::left - 4) + "\" y=\"" + std::to_string(layout::rate_top + 8) +
         "\" text-anchor=\"end\" font-size=\"9\">100%</text><text x=\"" + std::to_string(layout::left - 4) +
         "\" y=\"" + std::to_string(layout::rate_top + layout::rate_height) +
         "\" text-anchor=\"end\" font-size=\"9\">0%</text>\n";
  {
    std::string d;
    bool pen_down = false;
    std::uint64_t f = 0, n = 0;
    for (int c = 0; c < W; ++c) {
      f += columns.failures[static_cast<std::size_t>(c)];
      n += columns.decided[static_cast<std::size_t>(c)];
      if (c >= rolling) {
        f -= columns.failures[static_cast<std::size_t>(c - rolling)];
        n -= columns.decided[static_cast<std::size_t>(c - rolling)];
      }
      if (n == 0) {
        pen_down = false;
        continue;
      }
      const double rate = static_cast<double>(f) / static_cast<double>(n);
      d += pen_down ? " L" : (d.empty() ? "M" : " M");
      d += std::to_string(layout::left + c) + " " +
           fixed(layout::rate_top + layout::rate_height - rate * layout::rate_height, 1);
      pen_down = true;
    }
    out += "<path class=\"failure-rate\" d=\"" + d +
           "\" fill=\"none\" stroke=\"#1f5fa8\" stroke-width=\"1.2\"><title>failure rate of the trace's calls "
           "(rolling, last " +
           detail::seconds_text(col_s * rolling) + ")</title></path>\n";
  }

  // Refused calls, per column.
  {
    std::vector<std::array<std::uint32_t, 3>> refused(W, std::array<std::uint32_t, 3>{});
    for (const auto row : report.refused_calls) {
      if (trace.peer_of(row) != peer) continue;
      const auto col = std::min<std::int64_t>(
          W - 1, static_cast<std::int64_t>(static_cast<long double>(trace.start_of(row).count() - origin) * W /
                                           std::max<std::int64_t>(1, trace.last_end().count() - origin)));
      auto& r = refused[static_cast<std::size_t>(col)];
      ++r[0];
      if (trace.result_of(row) == circuit::outcome::success) ++r[1];
      if (trace.result_of(row) == circuit::outcome::failure) ++r[2];
    }
    out += "<g class=\"refused\">\n";
    for (int c = 0; c < W; ++c) {
      const auto& r = refused[static_cast<std::size_t>(c)];
      if (r[0] == 0) continue;
      out += "<rect data-refused=\"" + std::to_string(r[0]) + "\" x=\"" + std::to_string(layout::left + c) +
             "\" y=\"" + std::to_string(layout::marks_top) + "\" width=\"1\" height=\"" +
             std::to_string(layout::marks_height) + "\" fill=\"#222222\"><title>" + at_text(c * col_s) + " to " +
             at_text((c + 1) * col_s) + ": " + std::to_string(r[0]) + " refused (" + std::to_string(r[1]) +
             " would have succeeded, " + std::to_string(r[2]) + " failures kept off)</title></rect>\n";
    }
    out += "</g>\n";
  }

  // The time axis: ticks at round UTC times.
  {
    constexpr std::array<std::int64_t, 20> steps = {1,    2,    5,    10,    15,    30,    60,    120,   300,   600,
                                                    900,  1800, 3600, 7200,  10800, 21600, 43200, 86400, 172800, 604800};
    std::int64_t step = steps.back();
    for (const auto s : steps) {
      if (span_s / static_cast<double>(s) <= 10) {
        step = s;
        break;
      }
    }
    const auto step_ns = step * detail::ns_per_s;
    const auto end = trace.last_end().count();
    auto t = origin >= 0 ? (origin + step_ns - 1) / step_ns * step_ns : origin / step_ns * step_ns;
    out += "<g class=\"axis\">\n";
    out += "<line x1=\"" + std::to_string(layout::left) + "\" y1=\"" + std::to_string(layout::axis_y - 10) +
           "\" x2=\"" + std::to_string(layout::left + W) + "\" y2=\"" + std::to_string(layout::axis_y - 10) +
           "\" stroke=\"#888888\"/>\n";
    for (; t <= end; t += step_ns) {
      const double x = layout::left + static_cast<double>(t - origin) / 1e9 / span_s * W;
      out += "<line x1=\"" + fixed(x, 1) + "\" y1=\"" + std::to_string(layout::axis_y - 12) + "\" x2=\"" +
             fixed(x, 1) + "\" y2=\"" + std::to_string(layout::axis_y - 8) + "\" stroke=\"#888888\"/><text x=\"" +
             fixed(x, 1) + "\" y=\"" + std::to_string(layout::axis_y + 4) + "\" text-anchor=\"middle\">" +
             detail::clock_time(t, false) + "</text>\n";
    }
    out += "</g>\n";
  }
  out += "</svg>\n";
  return out;
}

/// The title of configuration `index` (from 0) for a peer.
inline std::string svg_title(const config& c, std::size_t index, std::string_view peer, bool has_peers) {
  std::string t = "#" + std::to_string(index + 1) + " " + c.text;
  if (has_peers) t += " \xE2\x80\x94 peer " + std::string(peer.empty() ? "\"\"" : peer);
  return t;
}

/// The HTML report: a summary of the trace, a table ranking the
/// configurations, and one inline SVG per configuration and peer. No
/// script, no external resource; also well-formed XML.
inline std::string render_html(const std::string& trace_name, const circuit::replay_trace& trace,
                               const std::vector<config>& configs, const std::vector<circuit::replay_report>& reports,
                               const std::vector<trace_columns>& columns) {
  using detail::xml_escape;
  std::string out;
  out += "<!DOCTYPE html>\n<html xmlns=\"http://www.w3.org/1999/xhtml\" lang=\"en\">\n<head>\n<meta charset=\"utf-8\"/>\n";
  out += "<title>circuit-tune: " + xml_escape(trace_name) + "</title>\n";
  out += "<style>\nbody{font-family:sans-serif;margin:24px;color:#222;background:#fff}\n"
         "table{border-collapse:collapse;margin:12px 0}\n"
         "th,td{border:1px solid #ccc;padding:4px 8px;text-align:right}\n"
         "td.config{text-align:left;font-family:monospace}\n"
         "th{background:#eee}\n"
         "svg{display:block;margin:6px 0 18px 0}\n"
         ".swatch{display:inline-block;width:12px;height:12px;margin:0 4px 0 12px;vertical-align:middle}\n"
         "</style>\n</head>\n<body>\n";
  std::uint64_t failures = 0, successes = 0;
  for (std::size_t i = 0; i < trace.size(); ++i) {
    failures += trace.result_of(i) == circuit::outcome::failure ? 1 : 0;
    successes += trace.result_of(i) == circuit::outcome::success ? 1 : 0;
  }
  out += "<h1>circuit-tune report</h1>\n";
  out += "<p>Trace <code>" + xml_escape(trace_name) + "</code>: " + std::to_string(trace.size()) + " calls (" +
         std::to_string(successes) + " successes, " + std::to_string(failures) + " failures), from " +
         detail::date_time(trace.first_start().count()) + " to " + detail::date_time(trace.last_end().count()) +
         " (" + detail::seconds_text(static_cast<double>(trace.last_end().count() - trace.first_start().count()) / 1e9) +
         ")";
  if (trace.has_peers()) {
    out += "; peers:";
    for (const auto& p : trace.peers()) out += " <code>" + xml_escape(p.empty() ? "\"\"" : p) + "</code>";
  }
  out += ".</p>\n";
  out += "<h2>Ranking</h2>\n<p>Best first: most calls saved (failed calls kept off the peer, minus refused calls "
         "that would have succeeded), then fewest refused successes, then the quickest median trip.</p>\n";
  out += "<table class=\"ranking\">\n<tr><th>rank</th><th>config</th><th>net saved</th><th>cost: refused that would "
         "have succeeded</th><th>benefit: failures kept off</th><th>refused</th><th>trips</th><th>reopens</th>"
         "<th>open</th><th>median time to trip</th><th>longest time to trip</th></tr>\n";
  const auto order = ranking(reports);
  for (std::size_t r = 0; r < order.size(); ++r) {
    const auto i = order[r];
    const auto& f = reports[i];
    const auto m = median(f.time_to_trip_seconds);
    const auto longest = f.time_to_trip_seconds.empty()
                             ? std::optional<double>()
                             : *std::max_element(f.time_to_trip_seconds.begin(), f.time_to_trip_seconds.end());
    const auto net = static_cast<std::int64_t>(f.failures_kept_off) -
                     static_cast<std::int64_t>(f.refused_would_have_succeeded);
    out += "<tr data-config=\"" + std::to_string(i + 1) + "\"><td>" + std::to_string(r + 1) +
           "</td><td class=\"config\"><a href=\"#config-" + std::to_string(i + 1) + "\">#" + std::to_string(i + 1) +
           "</a> " + xml_escape(configs[i].text) + "</td><td>" + std::to_string(net) + "</td><td>" +
           std::to_string(f.refused_would_have_succeeded) + "</td><td>" + std::to_string(f.failures_kept_off) +
           "</td><td>" + std::to_string(f.refused) + "</td><td>" + std::to_string(f.trips) + "</td><td>" +
           std::to_string(f.reopens) + "</td><td>" + detail::seconds_text(f.open_seconds) + "</td><td>" +
           (m ? detail::seconds_text(*m) : std::string("-")) + "</td><td>" +
           (longest ? detail::seconds_text(*longest) : std::string("-")) + "</td></tr>\n";
  }
  out += "</table>\n";
  out += "<h2>Timelines</h2>\n<p>State:";
  for (const auto s : {circuit::state::closed, circuit::state::open, circuit::state::half_open}) {
    out += "<span class=\"swatch\" style=\"background:" + std::string(colour_of(s)) + "\"></span>" +
           std::string(circuit::to_string(s));
  }
  out += ". One pixel per " +
         detail::seconds_text(static_cast<double>(trace.last_end().count() - trace.first_start().count()) / 1e9 /
                              layout::columns) +
         "; a column that saw several states is stacked by their shares. Below the states: the trace's failure "
         "rate (rolling), then a mark where calls were refused. Hover for details.</p>\n";
  for (std::size_t i = 0; i < configs.size(); ++i) {
    out += "<h3 id=\"config-" + std::to_string(i + 1) + "\">#" + std::to_string(i + 1) + " <code>" +
           xml_escape(configs[i].text) + "</code></h3>\n";
    for (std::uint32_t p = 0; p < trace.peers().size(); ++p) {
      out += render_svg(svg_title(configs[i], i, trace.peers()[p], trace.has_peers()), reports[i], trace, p,
                        columns[p], false);
    }
  }
  out += "</body>\n</html>\n";
  return out;
}

/// The file name of configuration `index`'s SVG for a peer: `config-N.svg`,
/// or `config-N-PEER.svg` with characters outside [A-Za-z0-9._-] as `_`.
inline std::string svg_file_name(std::size_t index, std::string_view peer, bool has_peers) {
  std::string name = "config-" + std::to_string(index + 1);
  if (has_peers) {
    name += '-';
    for (const char c : peer) {
      const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                      c == '_' || c == '-';
      name += ok ? c : '_';
    }
  }
  return name + ".svg";
}

// ------------------------------------------------------------- files ----

/// Files written together or not at all: each to a temporary name beside
/// it, renamed into place by `commit()`; whatever was not committed is
/// removed when this goes away. Not thread-safe.
class file_batch {
 public:
  file_batch() = default;
  file_batch(const file_batch&) = delete;
  file_batch& operator=(const file_batch&) = delete;
  ~file_batch() {
    for (const auto& f : files_) {
      std::error_code ec;
      std::filesystem::remove(f.temp, ec);
    }
  }

  /// Writes `content` to a temporary file beside `path`. Throws
  /// `std::runtime_error` naming the file on failure.
  void add(const std::filesystem::path& path, std::string_view content) {
    auto temp = path;
    temp += ".tmp-" + std::to_string(::getpid());
    files_.push_back({path, temp});
    std::ofstream out(temp, std::ios::binary | std::ios::trunc);
    if (!out) throw std::runtime_error(temp.string() + ": cannot write: " + std::strerror(errno));
    out.write(content.data(), static_cast<std::streamsize>(content.size()));
    out.close();
    if (!out) throw std::runtime_error(temp.string() + ": cannot write");
  }

  /// Renames every file into place.
  void commit() {
    for (auto& f : files_) {
      std::error_code ec;
      std::filesystem::rename(f.temp, f.path, ec);
      if (ec) throw std::runtime_error(f.path.string() + ": cannot write: " + ec.message());
      f.temp.clear();
    }
    files_.clear();
  }

 private:
  struct file {
    std::filesystem::path path, temp;
  };
  std::vector<file> files_;
};

}  // namespace circuit_tune
