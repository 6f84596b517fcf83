// circuit-tune: its parsers and writers directly, then the program as a
// process: exit codes and messages, the files it writes (and does not),
// its JSON, and its SVG and HTML checked with xmllint.

#include <cmath>
#include <filesystem>
#include <regex>
#include <string>
#include <vector>

#include "catch.hpp"
#include "tune.hpp"
#include "tune_test_support.hpp"

namespace {

using circuit::outcome;
using namespace tune_test;
namespace fs = std::filesystem;

constexpr std::int64_t s = 1'000'000'000;

// The hand-computed trace of replay_test: a trip at 42 s (the 4th failure
// within 60 s), open until 52 s, a probe at 55 s closes it at 56 s; the
// last settlement at 61 s. Starts at epoch second 1700000000.
const std::string trip_csv =
    "timestamp,outcome,latency_ms\n"
    "1700000000,failure,1000\n"
    "1700000010,failure,1000\n"
    "1700000020,success,1000\n"
    "1700000030,failure,1000\n"
    "1700000040,failure,2000\n"
    "1700000045,success,1000\n"
    "1700000050,failure,1000\n"
    "1700000051,ignored,500\n"
    "1700000055,success,1000\n"
    "1700000060,success,1000\n";

const std::string trip_config = "sliding_window max_failures=3 window=60s open_for=10s";

}  // namespace

TEST_CASE("circuit-tune: timestamps, RFC 3339 or epoch seconds, to the nanosecond") {
  using circuit_tune::parse_timestamp;
  CHECK(parse_timestamp("1970-01-01T00:00:00Z") == 0);
  CHECK(parse_timestamp("2023-11-14T22:13:20Z") == 1'700'000'000 * s);
  CHECK(parse_timestamp("2023-11-14t22:13:20.123456789z") == 1'700'000'000 * s + 123'456'789);
  CHECK(parse_timestamp("2023-11-14 22:13:20.5Z") == 1'700'000'000 * s + 500'000'000);
  CHECK(parse_timestamp("2023-11-15T00:13:20+02:00") == 1'700'000'000 * s);
  CHECK(parse_timestamp("2023-11-14T17:43:20-04:30") == 1'700'000'000 * s);
  CHECK(parse_timestamp("2016-12-31T23:59:60Z") == parse_timestamp("2017-01-01T00:00:00Z"));
  CHECK(parse_timestamp("2024-02-29T00:00:00Z").has_value());
  CHECK(parse_timestamp("1700000000") == 1'700'000'000 * s);
  CHECK(parse_timestamp("1700000000.000000001") == 1'700'000'000 * s + 1);
  CHECK(parse_timestamp("1700000000.25") == 1'700'000'000 * s + 250'000'000);
  CHECK(parse_timestamp("-1.5") == -1'500'000'000);
  for (const char* bad : {"", "yesterday", "2023-11-14", "2023-11-14T22:13:20", "2023-13-14T22:13:20Z",
                          "2023-02-29T00:00:00Z", "2023-11-14T24:00:00Z", "2023-11-14T22:13:20.Z",
                          "2023-11-14T22:13:20.1234567891Z", "2023-11-14T22:13:20+2:00", "2023-11-14T22:13:20Zx",
                          "1700000000.1234567891", "17000e5", "1.2.3", "9999999999999", "3000-01-01T00:00:00Z"}) {
    INFO(bad);
    CHECK_FALSE(parse_timestamp(bad).has_value());
  }
}

TEST_CASE("circuit-tune: outcomes, latencies and durations") {
  using circuit_tune::latency_status;
  CHECK(circuit_tune::parse_outcome("SUCCESS") == outcome::success);
  CHECK(circuit_tune::parse_outcome("Failure") == outcome::failure);
  CHECK(circuit_tune::parse_outcome("ignored") == outcome::ignored);
  CHECK(circuit_tune::parse_outcome("200") == outcome::success);
  CHECK(circuit_tune::parse_outcome("404") == outcome::success);
  CHECK(circuit_tune::parse_outcome("100") == outcome::success);
  CHECK(circuit_tune::parse_outcome("500") == outcome::failure);
  CHECK(circuit_tune::parse_outcome("599") == outcome::failure);
  for (const char* bad : {"", "ok", "099", "600", "5000", "50"}) CHECK_FALSE(circuit_tune::parse_outcome(bad));

  std::int64_t ns = -1;
  CHECK(circuit_tune::parse_latency_ms("12", ns) == latency_status::ok);
  CHECK(ns == 12'000'000);
  CHECK(circuit_tune::parse_latency_ms("0.000001", ns) == latency_status::ok);
  CHECK(ns == 1);
  CHECK(circuit_tune::parse_latency_ms(".5", ns) == latency_status::ok);
  CHECK(ns == 500'000);
  CHECK(circuit_tune::parse_latency_ms("0", ns) == latency_status::ok);
  CHECK(ns == 0);
  CHECK(circuit_tune::parse_latency_ms("-3", ns) == latency_status::negative);
  CHECK(circuit_tune::parse_latency_ms("-0.5", ns) == latency_status::negative);
  for (const char* bad : {"", "abc", "1e3", "1.2.3", ".", "-", "12ms"}) {
    INFO(bad);
    CHECK(circuit_tune::parse_latency_ms(bad, ns) == latency_status::not_a_number);
  }

  using circuit_tune::parse_duration;
  CHECK(parse_duration("10s") == 10 * s);
  CHECK(parse_duration("1.5s") == 1'500'000'000);
  CHECK(parse_duration("250ms") == 250'000'000);
  CHECK(parse_duration("3us") == 3000);
  CHECK(parse_duration("7ns") == 7);
  CHECK(parse_duration("2min") == 120 * s);
  CHECK(parse_duration("1.5h") == 5400 * s);
  CHECK(parse_duration("0.1min") == 6 * s);
  CHECK(parse_duration("0.5ns") == std::nullopt);  // finer than a nanosecond
  for (const char* bad : {"", "10", "s", "10 s", "10sec", "1.2.3s", "-1s", "99999999999h"}) {
    INFO(bad);
    CHECK_FALSE(parse_duration(bad).has_value());
  }
}

TEST_CASE("circuit-tune: the CSV trace") {
  SECTION("columns in any order, extra columns, quoting, blank lines, CRLF") {
    const auto calls = circuit_tune::parse_trace(
        "\xEF\xBB\xBFPeer, Latency_ms ,extra,OUTCOME,timestamp\r\n"
        "\r\n"
        "db,1.5,x,200,1700000000\r\n"
        "\"a,\"\"b\"\"\",0,\"multi\nline\",failure,\"2023-11-14T22:13:20.25Z\"\n"
        "\n"
        "api,3,,ignored,1700000001\n",
        "t.csv");
    REQUIRE(calls.size() == 3);
    CHECK(calls[0].peer == "db");
    CHECK(calls[0].latency.count() == 1'500'000);
    CHECK(calls[0].result == outcome::success);
    CHECK(calls[0].at.count() == 1'700'000'000 * s);
    CHECK(calls[1].peer == "a,\"b\"");
    CHECK(calls[1].result == outcome::failure);
    CHECK(calls[1].at.count() == 1'700'000'000 * s + 250'000'000);
    CHECK(calls[2].result == outcome::ignored);
  }
  SECTION("bad rows name the file and the physical line") {
    const auto error = [](const std::string& text) -> std::string {
      try {
        (void)circuit_tune::parse_trace(text, "t.csv");
      } catch (const circuit_tune::input_error& e) {
        return e.what();
      }
      return "no error";
    };
    const std::string h = "timestamp,outcome,latency_ms\n";
    CHECK(error(h + "1700000000,200,1\nyesterday,200,1\n") ==
          "t.csv:3: bad timestamp 'yesterday' (RFC 3339, or decimal epoch seconds)");
    CHECK(error(h + "1700000000,maybe,1\n") ==
          "t.csv:2: unknown outcome 'maybe' (success, failure, ignored, or an HTTP status 100-599)");
    CHECK(error(h + "1700000000,200,-4\n") == "t.csv:2: negative latency_ms '-4'");
    CHECK(error(h + "1700000000,200,fast\n") == "t.csv:2: latency_ms 'fast' is not a number of milliseconds");
    CHECK(error(h + "1700000000,200\n") == "t.csv:2: short row: 2 fields, the header has 3");
    // A quoted newline is a physical line: the next row is line 4.
    CHECK(error("timestamp,outcome,latency_ms,note\n1700000000,200,1,\"a\nb\"\n1700000000,200,x,\n") ==
          "t.csv:4: latency_ms 'x' is not a number of milliseconds");
    CHECK(error(h + "\n\n1700000000,200,1,\"open\n") == "t.csv:4: unterminated quoted field");
    CHECK(error("timestamp,latency_ms\n1,1\n") == "t.csv:1: no 'outcome' column in the header");
    CHECK(error("") == "t.csv: no calls");
    CHECK(error("\n\n") == "t.csv: no calls");
    CHECK(error(h) == "t.csv: no calls");
    CHECK(error(h + "\n\n") == "t.csv: no calls");
  }
}

TEST_CASE("circuit-tune: the words of a configuration") {
  const auto c = circuit_tune::parse_config(
      "failure_rate_window failure_rate=0.25 minimum_calls=7 window=30s buckets=6 open_for=2s "
      "half_open_max_calls=3 success_threshold=2 slow_call=1.5s probe_timeout=500ms");
  const auto& k = std::get<circuit::failure_rate_window>(c.counter);
  CHECK(k.failure_rate == 0.25);
  CHECK(k.minimum_calls == 7);
  CHECK(k.window == std::chrono::seconds(30));
  CHECK(k.buckets == 6);
  CHECK(std::get<circuit::fixed>(c.options.open_for).duration == std::chrono::seconds(2));
  CHECK(c.options.half_open_max_calls == 3);
  CHECK(c.options.success_threshold == 2);
  CHECK(c.options.slow_call == std::chrono::milliseconds(1500));
  CHECK(c.options.probe_timeout == std::chrono::milliseconds(500));

  const auto e = circuit_tune::parse_config("consecutive_failures threshold=4 open_for=5s multiplier=3");
  CHECK(std::get<circuit::consecutive_failures>(e.counter).threshold == 4);
  const auto& x = std::get<circuit::exponential>(e.options.open_for);
  CHECK(x.initial == std::chrono::seconds(5));
  CHECK(x.multiplier == 3.0);
  CHECK(x.max == circuit::exponential{}.max);
  CHECK(x.seed == 0u);  // seeded, so that reports repeat
  const auto l = circuit_tune::parse_config("failure_rate_last_calls calls=40 minimum_calls=10 failure_rate=1 "
                                            "open_for_max=2min jitter=0.5 seed=9");
  CHECK(std::get<circuit::failure_rate_last_calls>(l.counter).calls == 40);
  const auto& y = std::get<circuit::exponential>(l.options.open_for);
  CHECK(y.initial == circuit::exponential{}.initial);
  CHECK(y.max == std::chrono::minutes(2));
  CHECK(y.jitter == 0.5);
  CHECK(y.seed == 9u);
  CHECK(std::get<circuit::net_failures>(circuit_tune::parse_config("net_failures threshold=2").counter).threshold ==
        2);
  CHECK(std::get<circuit::sliding_window>(circuit_tune::parse_config("sliding_window").counter).max_failures == 3);

  const auto error = [](const std::string& text) -> std::string {
    try {
      (void)circuit_tune::parse_config(text);
    } catch (const circuit_tune::input_error& e) {
      return e.what();
    }
    return "no error";
  };
  CHECK_THAT(error("sliding_windows"), Catch::StartsWith("--config 'sliding_windows': unknown word 'sliding_windows'"));
  CHECK(error("sliding_window threshold=3") == "--config 'sliding_window threshold=3': unknown word 'threshold=3'");
  CHECK(error("sliding_window max_failures=3 fast") ==
        "--config 'sliding_window max_failures=3 fast': unknown word 'fast'");
  CHECK_THAT(error("sliding_window window=10"), Catch::Contains("window=10: not a duration"));
  CHECK_THAT(error("sliding_window max_failures=-1"), Catch::Contains("max_failures=-1: not a whole number"));
  CHECK_THAT(error("failure_rate_window failure_rate=half"), Catch::Contains("failure_rate=half: not a number"));
  CHECK_THAT(error("sliding_window window=1s window=2s"), Catch::Contains("'window' given twice"));
  // The library's own validation, with its message.
  CHECK(error("failure_rate_window failure_rate=1.5") ==
        "--config 'failure_rate_window failure_rate=1.5': failure_rate_window.failure_rate must be within (0, 1]");
  CHECK_THAT(error("net_failures threshold=0"), Catch::Contains("net_failures.threshold must be at least 1"));
  CHECK_THAT(error("sliding_window open_for=2min multiplier=2"), Catch::Contains("exponential.max"));
  CHECK_THAT(error(""), Catch::Contains("empty"));
}

TEST_CASE("circuit-tune: JSON has the report's fields, per configuration in the order given") {
  const auto calls = circuit_tune::parse_trace(trip_csv, "t.csv");
  const circuit::replay_trace trace(calls);
  const std::vector<circuit_tune::config> configs = {circuit_tune::parse_config(trip_config),
                                                     circuit_tune::parse_config("consecutive_failures threshold=9")};
  const std::vector<circuit::replay_report> reports = {circuit_tune::run(trace, configs[0]),
                                                       circuit_tune::run(trace, configs[1])};
  const auto json = circuit_tune::to_json(configs, reports, false);
  CHECK_THAT(json, Catch::StartsWith("{\"configs\": [\n  {\"config\": \"sliding_window max_failures=3 window=60s "
                                     "open_for=10s\", \"calls\": 10, \"trips\": 1, \"reopens\": 0, \"open_seconds\": "
                                     "10.0, \"refused\": 3, \"refused_would_have_succeeded\": 1, \"failures_kept_off\": "
                                     "1, \"time_to_trip_seconds\": [42.0], \"timeline\": [\n      {\"peer\": \"\", "
                                     "\"state\": \"closed\", \"from\": 0.0, \"to\": 42.0},"));
  CHECK_THAT(json, Catch::Contains("{\"peer\": \"\", \"state\": \"half_open\", \"from\": 52.0, \"to\": 56.0}"));
  CHECK_THAT(json, Catch::Contains("{\"config\": \"consecutive_failures threshold=9\", \"calls\": 10, \"trips\": 0"));
  CHECK(json.find("\"peers\"") == std::string::npos);
  CHECK(json.find("consecutive") > json.find("sliding"));
}

namespace {

// The band rects of an SVG: (state, x, width) in document order.
struct band {
  std::string state;
  int x;
  int width;
};
std::vector<band> bands(const std::string& svg) {
  std::vector<band> out;
  const std::regex r("<rect data-state=\"([a-z_]+)\" x=\"([0-9]+)\" y=\"[0-9.]+\" width=\"([0-9]+)\"");
  for (auto it = std::sregex_iterator(svg.begin(), svg.end(), r); it != std::sregex_iterator(); ++it) {
    out.push_back({(*it)[1].str(), std::stoi((*it)[2].str()), std::stoi((*it)[3].str())});
  }
  return out;
}

bool xml_ok(const fs::path& file, bool html, std::string& why) {
  const auto dir = file.parent_path() / ("xmllint-" + file.filename().string());
  const auto r = shell(std::string("xmllint ") + (html ? "--html " : "") + "--noout " + quote(file.string()), dir);
  why = r.err;
  if (r.status != 0) return false;
  if (!html) return r.err.empty();
  // libxml2's HTML parser knows no SVG tags ("Tag svg invalid"); anything else is a fault.
  std::string rest;
  std::size_t at = 0;
  while (at < r.err.size()) {
    auto e = r.err.find('\n', at);
    if (e == std::string::npos) e = r.err.size();
    const auto line = r.err.substr(at, e - at);
    if (line.find("HTML parser error") != std::string::npos && line.find("invalid") == std::string::npos) {
      rest += line + "\n";
    }
    at = e + 1;
  }
  why = rest;
  return rest.empty();
}

}  // namespace

TEST_CASE("circuit-tune: the program writes its report, the same input gives the same bytes") {
  const auto dir = work_dir("report");
  write_file(dir / "trip.csv", trip_csv);
  const std::vector<std::string> args = {(dir / "trip.csv").string(), "--config", trip_config,
                                         "--config",  "net_failures threshold=2 open_for=30s",
                                         "--html",    (dir / "a" / "report.html").string(),
                                         "--svg",     (dir / "a" / "svg").string(),
                                         "--json"};
  fs::create_directories(dir / "a");
  const auto r = tune(args, dir / "run1");
  INFO(r.err);
  REQUIRE(r.status == 0);
  CHECK(r.err.empty());
  CHECK_THAT(r.out, Catch::StartsWith("{\"configs\": ["));
  CHECK_THAT(r.out, Catch::Contains("\"trips\": 1"));
  const auto html = read_file(dir / "a" / "report.html");
  const auto svg1 = read_file(dir / "a" / "svg" / "config-1.svg");
  const auto svg2 = read_file(dir / "a" / "svg" / "config-2.svg");
  REQUIRE(!html.empty());
  REQUIRE(!svg1.empty());
  REQUIRE(!svg2.empty());
  CHECK(std::distance(fs::directory_iterator(dir / "a" / "svg"), fs::directory_iterator()) == 2);  // no temp files

  SECTION("deterministic") {
    auto again = args;
    again[6] = (dir / "b" / "report.html").string();
    again[8] = (dir / "b" / "svg").string();
    fs::create_directories(dir / "b");
    const auto r2 = tune(again, dir / "run2");
    REQUIRE(r2.status == 0);
    CHECK(r2.out == r.out);
    CHECK(read_file(dir / "b" / "report.html") == html);
    CHECK(read_file(dir / "b" / "svg" / "config-1.svg") == svg1);
    CHECK(read_file(dir / "b" / "svg" / "config-2.svg") == svg2);
  }
  SECTION("no script, no external resource, tooltips, the ranking table") {
    for (const auto* doc : {&html, &svg1}) {
      CHECK(doc->find("<script") == std::string::npos);
      CHECK(doc->find("href=\"http") == std::string::npos);
      CHECK(doc->find("xlink:href") == std::string::npos);
      CHECK(doc->find("url(") == std::string::npos);
      CHECK(doc->find("<title>") != std::string::npos);
    }
    CHECK(std::regex_search(html, std::regex("<svg[^>]*data-peer=\"\"")));
    CHECK(html.find("<table class=\"ranking\">") != std::string::npos);
    CHECK(html.find(trip_config) != std::string::npos);
    CHECK(svg1.find("<rect data-state=\"open\"") != std::string::npos);
    CHECK(svg1.find("class=\"failure-rate\"") != std::string::npos);
    CHECK(svg1.find("data-refused=") != std::string::npos);
  }
  SECTION("the bands are where the states were") {
    // 61 s over 1000 columns from x = 60: the open spell 42..52 s covers
    // columns 688.5..852.5; the columns wholly inside are 689..851.
    const auto b = bands(svg1);
    const auto col = [](double t) { return t / 61.0 * 1000.0; };
    const int left = circuit_tune::layout::left;
    std::vector<band> wide;
    for (const auto& x : b) {
      if (x.width > 1) wide.push_back(x);
    }
    REQUIRE(wide.size() == 4);
    CHECK(wide[0].state == "closed");
    CHECK(wide[0].x == left);
    CHECK(wide[0].width == static_cast<int>(std::floor(col(42))));
    CHECK(wide[1].state == "open");
    CHECK(wide[1].x == left + static_cast<int>(std::ceil(col(42))));
    CHECK(wide[1].x + wide[1].width == left + static_cast<int>(std::floor(col(52))));
    CHECK(wide[2].state == "half_open");
    CHECK(wide[2].x == left + static_cast<int>(std::ceil(col(52))));
    CHECK(wide[2].x + wide[2].width == left + static_cast<int>(std::floor(col(56))));
    CHECK(wide[3].state == "closed");
    CHECK(wide[3].x + wide[3].width == left + 1000);
    // The column of the trip holds both states, stacked.
    int shared = 0;
    for (const auto& x : b) {
      if (x.x == left + static_cast<int>(std::floor(col(42))) && x.width == 1) ++shared;
    }
    CHECK(shared == 2);
    CHECK(svg1.find("<title>open 22:14:02.000 to 22:14:12.000 (10.0 s)</title>") != std::string::npos);
    // The same bands inline in the HTML.
    const auto h = bands(html);
    CHECK(h.size() == b.size() + bands(svg2).size());
  }
  SECTION("the SVG and the HTML parse") {
    if (!have_tool("xmllint", "libxml2-utils")) return;
    std::string why;
    CHECK(xml_ok(dir / "a" / "svg" / "config-1.svg", false, why));
    INFO(why);
    CHECK(xml_ok(dir / "a" / "report.html", false, why));  // well-formed XML too
    CHECK(xml_ok(dir / "a" / "report.html", true, why));
  }
}

TEST_CASE("circuit-tune: a trace with peers: one SVG per configuration and peer") {
  const auto dir = work_dir("peers");
  write_file(dir / "peers.csv",
             "timestamp,peer,outcome,latency_ms\n"
             "2023-11-14T22:13:20Z,db/1,503,500\n2023-11-14T22:13:21Z,db/1,503,500\n"
             "2023-11-14T22:13:22Z,db/1,503,500\n2023-11-14T22:13:23Z,db/1,503,500\n"
             "2023-11-14T22:13:25Z,db/1,200,500\n2023-11-14T22:13:20Z,api,200,10\n"
             "2023-11-14T22:13:40Z,api,200,10\n");
  const auto r = tune({(dir / "peers.csv").string(), "--config", "sliding_window open_for=5s", "--svg",
                       (dir / "svg").string(), "--json"},
                      dir / "run");
  INFO(r.err);
  REQUIRE(r.status == 0);
  CHECK(fs::exists(dir / "svg" / "config-1-api.svg"));
  CHECK(fs::exists(dir / "svg" / "config-1-db_1.svg"));
  CHECK_THAT(r.out, Catch::Contains("\"peers\": {\n    \"api\": {\"calls\": 2, \"trips\": 0"));
  CHECK_THAT(r.out, Catch::Contains("\"db/1\": {\"calls\": 5, \"trips\": 1"));
  CHECK_THAT(r.out, Catch::Contains("{\"peer\": \"db/1\", \"state\": \"open\", \"from\": 3.5, \"to\": 8.5}"));
  const auto svg = read_file(dir / "svg" / "config-1-db_1.svg");
  CHECK(svg.find("data-peer=\"db/1\"") != std::string::npos);
  CHECK(svg.find("<rect data-state=\"open\"") != std::string::npos);
  CHECK(read_file(dir / "svg" / "config-1-api.svg").find("<rect data-state=\"open\"") == std::string::npos);
}

TEST_CASE("circuit-tune: bad input exits 2 naming the file and line, and writes nothing") {
  const auto dir = work_dir("bad");
  write_file(dir / "good.csv", trip_csv);
  // An earlier report stays as it was.
  write_file(dir / "out" / "report.html", "earlier");
  struct bad_case {
    std::string name, csv, config, message;
  };
  const std::string h = "timestamp,outcome,latency_ms\n";
  const std::string ok_row = "1700000000,200,1\n";
  const std::vector<bad_case> cases = {
      {"timestamp", h + ok_row + "noon,200,1\n", trip_config,
       "FILE:3: bad timestamp 'noon' (RFC 3339, or decimal epoch seconds)\n"},
      {"outcome", h + "\n" + ok_row + "1700000001,maybe,1\n", trip_config,
       "FILE:4: unknown outcome 'maybe' (success, failure, ignored, or an HTTP status 100-599)\n"},
      {"negative", h + "1700000000,200,-1\n", trip_config, "FILE:2: negative latency_ms '-1'\n"},
      {"not_numeric", h + "1700000000,200,slow\n", trip_config,
       "FILE:2: latency_ms 'slow' is not a number of milliseconds\n"},
      {"short", h + "1700000000,200\n", trip_config, "FILE:2: short row: 2 fields, the header has 3\n"},
      {"empty", "", trip_config, "FILE: no calls\n"},
      {"header_only", h, trip_config, "FILE: no calls\n"},
      {"config_word", trip_csv, "sliding_window max_failures=3 colour=red",
       "--config 'sliding_window max_failures=3 colour=red': unknown word 'colour=red'\n"},
      {"config_counter", trip_csv, "breaker", "--config 'breaker': unknown word 'breaker'"},
      {"config_value", trip_csv, "sliding_window window=0s",
       "--config 'sliding_window window=0s': sliding_window.window must be a positive duration\n"},
  };
  for (const auto& c : cases) {
    INFO(c.name);
    const auto file = dir / (c.name + ".csv");
    write_file(file, c.csv);
    const auto svg = dir / "out" / ("svg-" + c.name);
    const auto r = tune({file.string(), "--config", trip_config, "--config", c.config, "--html",
                         (dir / "out" / "report.html").string(), "--svg", svg.string(), "--json"},
                        dir / ("run-" + c.name));
    CHECK(r.status == 2);
    auto expected = c.message;
    const auto at = expected.find("FILE");
    if (at != std::string::npos) expected.replace(at, 4, file.string());
    CHECK_THAT(r.err, Catch::StartsWith(expected));
    CHECK(r.out.empty());
    CHECK_FALSE(fs::exists(svg));
    CHECK(read_file(dir / "out" / "report.html") == "earlier");
  }
  // Nothing else was left in the output directory (no temporary files).
  std::vector<std::string> left;
  for (const auto& e : fs::directory_iterator(dir / "out")) left.push_back(e.path().filename().string());
  CHECK(left == std::vector<std::string>{"report.html"});

  SECTION("a missing file, a bad command line") {
    auto r = tune({(dir / "nope.csv").string(), "--config", trip_config}, dir / "run-missing");
    CHECK(r.status == 2);
    CHECK_THAT(r.err, Catch::Contains("nope.csv: cannot open"));
    r = tune({(dir / "good.csv").string()}, dir / "run-noconfig");
    CHECK(r.status == 2);
    CHECK_THAT(r.err, Catch::Contains("no --config"));
    r = tune({(dir / "good.csv").string(), "--config", trip_config, "--colour"}, dir / "run-option");
    CHECK(r.status == 2);
    CHECK_THAT(r.err, Catch::Contains("unknown option '--colour'"));
  }
  SECTION("an output that cannot be written exits 1 and leaves the others unwritten") {
    write_file(dir / "blocker", "a file, not a directory");
    fs::create_directories(dir / "out2");
    const auto r = tune({(dir / "good.csv").string(), "--config", trip_config, "--html",
                         (dir / "out2" / "report.html").string(), "--svg", (dir / "blocker" / "svg").string()},
                        dir / "run-unwritable");
    CHECK(r.status == 1);
    CHECK_FALSE(r.err.empty());
    CHECK_FALSE(fs::exists(dir / "out2" / "report.html"));
  }
}

TEST_CASE("circuit-tune: the sample trace") {
  const auto dir = work_dir("sample");
  const auto r = tune({CIRCUIT_TUNE_SAMPLE_TRACE, "--config", "sliding_window max_failures=3 window=60s open_for=10s",
                       "--config", "failure_rate_window failure_rate=0.5 minimum_calls=10 window=60s slow_call=1s",
                       "--html", (dir / "report.html").string()},
                      dir / "run");
  INFO(r.err);
  REQUIRE(r.status == 0);
  // The text table: a header, one line per configuration, a legend.
  CHECK_THAT(r.out, Catch::StartsWith("rank  trips reopens"));
  const auto html = read_file(dir / "report.html");
  for (const auto* peer : {"api", "db", "search"}) {
    CHECK(html.find(std::string("data-peer=\"") + peer + "\"") != std::string::npos);
  }
  // The outage of db trips both; the slow period of search trips only the one counting slow calls.
  const circuit::replay_trace trace(circuit_tune::read_trace(CIRCUIT_TUNE_SAMPLE_TRACE));
  const auto plain = circuit_tune::run(trace, circuit_tune::parse_config("sliding_window max_failures=3 window=60s"));
  const auto slow =
      circuit_tune::run(trace, circuit_tune::parse_config("sliding_window max_failures=3 window=60s slow_call=1s"));
  CHECK(plain.peers.at("db").trips > 0);
  CHECK(plain.peers.at("search").trips == 0);
  CHECK(slow.peers.at("search").trips > 0);
  CHECK(plain.peers.at("api").trips > 0);  // the blip and the flapping
}

TEST_CASE("circuit-tune: the README's awk line turns an access log into a trace") {
  const auto readme = read_file(CIRCUIT_TUNE_README);
  const auto at = readme.find("\nawk 'BEGIN{print \"timestamp,outcome,latency_ms\"");
  REQUIRE(at != std::string::npos);
  auto line = readme.substr(at + 1, readme.find('\n', at + 1) - at - 1);
  const auto input = line.find(" access.log > calls.csv");
  REQUIRE(input != std::string::npos);
  if (!have_tool("awk", "mawk")) return;
  const auto dir = work_dir("awk");
  write_file(dir / "access.log",
             "10.0.0.1 - - [04/Dec/2026:10:00:00 +0100] \"GET /a HTTP/1.1\" 200 512 1234\n"
             "10.0.0.2 - frank [04/Dec/2026:10:00:01 -0230] \"POST /b HTTP/1.1\" 503 0 250000\n");
  line.replace(input, std::string::npos, " " + quote((dir / "access.log").string()) + " > " +
                                             quote((dir / "calls.csv").string()));
  const auto r = shell("(" + line + ")", dir / "run");  // its own redirection, inside
  INFO(r.err);
  REQUIRE(r.status == 0);
  const auto calls = circuit_tune::read_trace((dir / "calls.csv").string());
  REQUIRE(calls.size() == 2);
  CHECK(calls[0].at.count() == *circuit_tune::parse_timestamp("2026-12-04T09:00:00Z"));
  CHECK(calls[0].latency.count() == 1'234'000);
  CHECK(calls[0].result == outcome::success);
  CHECK(calls[1].at.count() == *circuit_tune::parse_timestamp("2026-12-04T12:30:01Z"));
  CHECK(calls[1].latency.count() == 250'000'000);
  CHECK(calls[1].result == outcome::failure);
}

TEST_CASE("circuit-tune: the sample trace in reverse order gives the same figures") {
  const auto dir = work_dir("reversed");
  const auto text = read_file(CIRCUIT_TUNE_SAMPLE_TRACE);
  std::vector<std::string> lines;
  for (std::size_t at = 0; at < text.size();) {
    const auto e = text.find('\n', at);
    lines.push_back(text.substr(at, e - at));
    at = e == std::string::npos ? text.size() : e + 1;
  }
  REQUIRE(lines.size() > 1000);
  std::string reversed = lines[0] + "\n";
  for (auto i = lines.size() - 1; i >= 1; --i) reversed += lines[i] + "\n";
  write_file(dir / "reversed.csv", reversed);
  const std::vector<std::string> configs = {
      "--config", "sliding_window max_failures=3 window=60s open_for=10s", "--config",
      "failure_rate_window failure_rate=0.5 minimum_calls=10 window=60s slow_call=1s probe_timeout=2s", "--json"};
  auto args = configs;
  args.insert(args.begin(), CIRCUIT_TUNE_SAMPLE_TRACE);
  const auto a = tune(args, dir / "forward");
  args[0] = (dir / "reversed.csv").string();
  const auto b = tune(args, dir / "backward");
  REQUIRE(a.status == 0);
  REQUIRE(b.status == 0);
  CHECK(a.out.size() > 10'000);
  CHECK(a.out == b.out);
}
