// write_status_html / write_status_json: valid HTML with a row per peer,
// valid JSON with an entry per peer, escaping, and the settings' checks.
// (The page as a browser draws it: status_server_test.cpp.)

#include "catch.hpp"

#include <chrono>
#include <regex>
#include <sstream>
#include <stdexcept>
#include <string>

#include <circuit/circuit_breaker.hpp>
#include <circuit/circuit_breaker_set.hpp>
#include <circuit/consecutive_failures.hpp>
#include <circuit/status_page.hpp>

#include "observe_tools.hpp"

using namespace std::chrono_literals;
using observe_tools::test_clock;

namespace {

using breaker_type = circuit::circuit_breaker<test_clock, circuit::consecutive_failures>;
using set_type = circuit::circuit_breaker_set<breaker_type>;

void fail(breaker_type& b, int times) {
  for (int i = 0; i < times; ++i) {
    if (auto p = b.try_guard()) p.failure();
  }
}

// One peer in each state, one with a name full of markup, 100 plain ones.
struct world {
  set_type peers{circuit::consecutive_failures{.threshold = 2}, circuit::options{.open_for = circuit::fixed{10s}}};
  world() {
    test_clock::set(0s);
    fail(peers.get("half"), 2);
    test_clock::set(10s);
    (void)peers.get("half").current_state();
    fail(peers.get("open"), 2);
    peers.get("isolated").isolate();
    peers.get("disabled").disable();
    (void)peers.get("<b>\"odd\" & 'name'\n\xff</b>");
    for (int i = 0; i < 100; ++i) (void)peers.get("peer-" + std::to_string(i));
    test_clock::set(14s);
  }
};

std::size_t count(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

}  // namespace

TEST_CASE("the status page has one row per peer with its state word, colour, window failures and next probe") {
  world w;
  std::ostringstream out;
  circuit::write_status_html(out, w.peers, {.title = "Peers <of> us", .refresh = 7s});
  const auto html = out.str();
  CHECK(count(html, "<tr data-peer=\"") == w.peers.size());
  CHECK(html.find("<meta http-equiv=\"refresh\" content=\"7\">") != std::string::npos);
  CHECK(html.find("<title>Peers &lt;of&gt; us</title>") != std::string::npos);
  CHECK(html.find("<tr data-peer=\"open\" data-state=\"open\" class=\"open\"><td>open</td><td>open</td>"
                  "<td class=\"n\">2</td><td>in 6.0 s</td>") != std::string::npos);
  CHECK(html.find("<tr data-peer=\"half\" data-state=\"half_open\" class=\"half_open\"><td>half</td><td>half_open</td>") !=
        std::string::npos);
  CHECK(html.find("<td>isolated</td><td class=\"n\">0</td><td>after reset()</td>") != std::string::npos);
  CHECK(html.find("data-peer=\"disabled\" data-state=\"disabled\"") != std::string::npos);
  CHECK(html.find("data-peer=\"&lt;b&gt;&quot;odd&quot; &amp; &#39;name&#39;&#10;\xEF\xBF\xBD&lt;/b&gt;\"") !=
        std::string::npos);
  for (const auto s : circuit::all_states) {
    CHECK(html.find("tr." + std::string(circuit::to_string(s)) + " td{background:" +
                    std::string(circuit::status_colour(s))) != std::string::npos);
  }
  // Self-contained: nothing fetched, nothing run.
  CHECK(html.find("<script") == std::string::npos);
  CHECK(html.find("http://") == std::string::npos);
  CHECK(html.find("https://") == std::string::npos);
  CHECK(html.find("url(") == std::string::npos);
  CHECK(html.find("<link") == std::string::npos);
  CHECK(html.find("<img") == std::string::npos);

  OBSERVE_NEED_TOOL(xmllint, "xmllint");
  const auto r = observe_tools::run("'" + *xmllint + "' --html --noout -", html);
  INFO("xmllint said: " << r.output);
  CHECK(r.status == 0);
  CHECK(r.output.empty());
  // The rows, as an HTML parser sees them.
  const auto rows = observe_tools::run("'" + *xmllint + "' --html --xpath 'count(//tbody/tr[@data-peer])' -", html);
  CHECK(rows.output.substr(0, rows.output.find_last_not_of("\n") + 1) == std::to_string(w.peers.size()));
}

TEST_CASE("the page of a single breaker has its one row") {
  test_clock::set(0s);
  breaker_type b({}, {.name = "solo"});
  std::ostringstream out;
  circuit::write_status_html(out, b);
  CHECK(count(out.str(), "<tr data-peer=\"solo\" data-state=\"closed\"") == 1);
  CHECK(count(out.str(), "<tr data-peer=") == 1);
}

TEST_CASE("a refresh below one second is refused, naming refresh") {
  world w;
  std::ostringstream out;
  try {
    circuit::write_status_html(out, w.peers, {.refresh = 0s});
    FAIL("accepted");
  } catch (const std::invalid_argument& e) {
    CHECK(std::string(e.what()).find("status_page_settings.refresh") != std::string::npos);
  }
}

TEST_CASE("the readiness JSON has every peer's state word, with distinct keys") {
  world w;
  (void)w.peers.get("twin \xff");
  (void)w.peers.get("twin \xfe");
  std::ostringstream out;
  circuit::write_status_json(out, w.peers);
  const auto json = out.str();
  CHECK(json.rfind("{\"circuits\": {", 0) == 0);
  CHECK(json.find("\"open\": \"open\"") != std::string::npos);
  CHECK(json.find("\"half\": \"half_open\"") != std::string::npos);
  CHECK(json.find("\"isolated\": \"isolated\"") != std::string::npos);
  CHECK(json.find("\"disabled\": \"disabled\"") != std::string::npos);
  CHECK(json.find("\"<b>\\\"odd\\\" & 'name'\\u000a\xEF\xBF\xBD</b>\": \"closed\"") != std::string::npos);
  CHECK(json.find("\"twin \xEF\xBF\xBD\": \"closed\"") != std::string::npos);
  CHECK(json.find("\"twin \xEF\xBF\xBD #2\": \"closed\"") != std::string::npos);

  std::ostringstream single;
  breaker_type b({}, {.name = "solo"});
  b.trip();
  circuit::write_status_json(single, b);
  CHECK(single.str() == "{\"circuits\": {\"solo\": \"open\"}}\n");

  OBSERVE_NEED_TOOL(python3, "python3");
  // Parsed by a real JSON parser: every peer is a key (none lost to a repeat).
  const auto r = observe_tools::run(
      "'" + *python3 +
          "' -c 'import json,sys; d=json.load(sys.stdin); print(len(d[\"circuits\"]), sorted(set(d[\"circuits\"].values())))'",
      json);
  INFO("python3 said: " << r.output);
  CHECK(r.status == 0);
  CHECK(r.output == std::to_string(w.peers.size()) + " ['closed', 'disabled', 'half_open', 'isolated', 'open']\n");
}
