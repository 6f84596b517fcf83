#pragma once
// Helpers of the observability tests: outside tools (found on PATH, run
// through the shell), a tiny parser of Prometheus text, temp dirs.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace observe_tools {

/// A manual clock with no state of its own (its time is a global), so that
/// the writers read it without the breaker's help. Tests set it first.
struct test_clock {
  using rep = std::int64_t;
  using period = std::nano;
  using duration = std::chrono::nanoseconds;
  using time_point = std::chrono::time_point<test_clock, duration>;
  static constexpr bool is_steady = false;
  static inline std::atomic<std::int64_t> ns{0};
  time_point now() const noexcept { return time_point{duration{ns.load(std::memory_order_acquire)}}; }
  static void set(duration d) noexcept { ns.store(d.count(), std::memory_order_release); }
  static void advance(duration d) noexcept { ns.fetch_add(d.count(), std::memory_order_acq_rel); }
};

/// True when the environment has CI=true: missing tools fail instead of skip.
bool in_ci();

/// The full path of `name` on PATH, if any.
std::optional<std::string> find_tool(const std::string& name);

/// What a command printed (stdout and stderr together) and its exit status.
struct run_result {
  int status = -1;
  std::string output;
};

/// Runs `command` with `sh -c`, `input` on its stdin.
run_result run(const std::string& command, std::string_view input = {});

/// A new empty directory under $TMPDIR (or /tmp).
std::string make_temp_dir();

/// Writes `text` to `path`; returns false on error.
bool write_file(const std::string& path, std::string_view text);
/// The contents of `path` (empty when unreadable).
std::string read_file(const std::string& path);

/// One sample line of Prometheus text.
struct sample {
  std::string name;
  std::map<std::string, std::string> labels;  // unescaped values
  std::string value;
};

/// A parse of Prometheus text exposition.
struct exposition {
  std::vector<sample> samples;
  std::vector<std::string> help_names, type_names;  // in order of appearance
  std::map<std::string, std::string> types;         // family -> type
  std::vector<std::string> errors;                  // anything malformed
};

/// Parses `text`; `errors` lists malformed lines.
exposition parse_prometheus(std::string_view text);

/// A key naming one series: its name and labels (map order: sorted).
std::string series_key(const std::string& name, const std::map<std::string, std::string>& labels);

/// Every sample's value by `series_key`; `duplicates` gets the keys seen twice.
std::map<std::string, std::string> index_series(const exposition& e, std::vector<std::string>* duplicates);

/// The value of the sample `name` with exactly `labels`, if present.
std::optional<std::string> value_of(const exposition& e, const std::string& name,
                                    const std::map<std::string, std::string>& labels);

}  // namespace observe_tools

/// Finds tool `name` into `var`, or skips the test (fails under CI=true).
#define OBSERVE_NEED_TOOL(var, name)                                                  \
  const auto var = ::observe_tools::find_tool(name);                                  \
  if (!var) {                                                                         \
    if (::observe_tools::in_ci()) FAIL(name " not found on PATH, and CI=true");       \
    WARN("SKIPPED: " name " not found on PATH (install it; CI=true makes this fail)"); \
    return;                                                                           \
  }
