// circuit-tune: replays a recorded trace of calls (CSV) against candidate
// breaker configurations and shows what each would have done.
//
//   circuit-tune calls.csv
//       --config 'sliding_window max_failures=3 window=60s open_for=10s'
//       --config 'failure_rate_window failure_rate=0.5 minimum_calls=20 window=10s'
//       [--html report.html] [--svg DIR] [--json]
//
// Exit status: 0 done; 2 bad input (a bad row, no calls, a bad --config, a
// bad command line); 1 an output could not be written. Nothing half-written
// is left behind: every output is written to a temporary file and renamed
// into place once all of them are written.

#include <cstdio>
#include <exception>
#include <filesystem>
#include <iostream>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "tune.hpp"

namespace {

constexpr const char* usage =
    "usage: circuit-tune TRACE.csv --config 'COUNTER key=value...' [--config ...]\n"
    "                    [--html FILE] [--svg DIR] [--json]\n"
    "  TRACE.csv  header row naming timestamp, outcome, latency_ms and optionally peer\n"
    "  --config   sliding_window | consecutive_failures | net_failures | failure_rate_window |\n"
    "             failure_rate_last_calls, then the counter's fields and open_for,\n"
    "             half_open_max_calls, success_threshold, slow_call, probe_timeout, multiplier,\n"
    "             open_for_max, jitter, seed (durations: 500ms, 1.5s, 2min, ...)\n"
    "  --html     write the report (timelines and ranking) to FILE\n"
    "  --svg      write one SVG timeline per configuration and peer into DIR\n"
    "  --json     print the figures as JSON instead of a table\n";

int bad_usage(const std::string& what) {
  std::cerr << "circuit-tune: " << what << "\n" << usage;
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::optional<std::string> trace_path, html_path, svg_dir;
  std::vector<std::string> config_texts;
  bool json = false;
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    const auto value = [&](const char* option) -> std::optional<std::string> {
      if (i + 1 >= argc) return std::nullopt;
      (void)option;
      return std::string(argv[++i]);
    };
    if (a == "--help" || a == "-h") {
      std::cout << usage;
      return 0;
    } else if (a == "--config") {
      auto v = value("--config");
      if (!v) return bad_usage("--config needs a value");
      config_texts.push_back(std::move(*v));
    } else if (a == "--html") {
      html_path = value("--html");
      if (!html_path) return bad_usage("--html needs a file name");
    } else if (a == "--svg") {
      svg_dir = value("--svg");
      if (!svg_dir) return bad_usage("--svg needs a directory");
    } else if (a == "--json") {
      json = true;
    } else if (a.size() > 1 && a.front() == '-') {
      return bad_usage("unknown option '" + std::string(a) + "'");
    } else if (trace_path) {
      return bad_usage("one trace only ('" + *trace_path + "' and '" + std::string(a) + "')");
    } else {
      trace_path = std::string(a);
    }
  }
  if (!trace_path) return bad_usage("no trace file");
  if (config_texts.empty()) return bad_usage("no --config");

  std::vector<circuit_tune::config> configs;
  std::vector<circuit::replay_report> reports;
  std::optional<circuit::replay_trace> trace;
  try {
    for (const auto& t : config_texts) configs.push_back(circuit_tune::parse_config(t));
    trace.emplace(circuit_tune::read_trace(*trace_path));
    for (const auto& c : configs) reports.push_back(circuit_tune::run(*trace, c));
  } catch (const circuit_tune::input_error& e) {
    // As compilers do: the message starts with FILE:LINE (or --config '...').
    std::cerr << e.what() << "\n";
    return 2;
  } catch (const std::invalid_argument& e) {
    std::cerr << *trace_path << ": " << e.what() << "\n";
    return 2;
  }

  try {
    circuit_tune::file_batch files;
    if (html_path || svg_dir) {
      const auto columns = circuit_tune::columns_of(*trace);
      if (html_path) {
        const auto name = std::filesystem::path(*trace_path).filename().string();
        files.add(*html_path, circuit_tune::render_html(name, *trace, configs, reports, columns));
      }
      if (svg_dir) {
        std::filesystem::create_directories(*svg_dir);
        std::set<std::string> taken;  // peers "a/b" and "a_b" would share a file name
        for (std::size_t i = 0; i < configs.size(); ++i) {
          for (std::uint32_t p = 0; p < trace->peers().size(); ++p) {
            const auto& peer = trace->peers()[p];
            auto name = circuit_tune::svg_file_name(i, peer, trace->has_peers());
            for (int n = 2; !taken.insert(name).second; ++n) {
              name = circuit_tune::svg_file_name(i, peer + "-" + std::to_string(n), true);
            }
            files.add(std::filesystem::path(*svg_dir) / name,
                      circuit_tune::render_svg(circuit_tune::svg_title(configs[i], i, peer, trace->has_peers()),
                                               reports[i], *trace, p, columns[p], true));
          }
        }
      }
    }
    files.commit();
  } catch (const std::exception& e) {
    std::cerr << "circuit-tune: " << e.what() << "\n";
    return 1;
  }
  std::cout << (json ? circuit_tune::to_json(configs, reports, trace->has_peers())
                     : circuit_tune::text_table(configs, reports));
  return std::cout.flush() ? 0 : 1;
}
