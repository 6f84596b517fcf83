// A process of the fleet for the Redis tests: one circuit::redis::store and
// one shared breaker, driven line by line on stdin; each command gets one
// line on stdout. It prints "ready" once the breaker is shared, and exits
// on EOF or "quit".
//
//   circuit_redis_helper key=value...
//     port=N prefix=P name=B                 the store and the breaker (required)
//     counter=sliding|rate                   sliding_window or failure_rate_window
//     max_failures=N window_ms=N             sliding_window
//     rate=X minimum_calls=N buckets=N       failure_rate_window (window_ms too)
//     open_for_ms=N half_open=N success=N    circuit::options
//     manual=0|1 subscribe=0|1 sync_ms=N command_ms=N lease_ms=N
//
//   commands                    answer
//     sync                      ok                   (store.sync_now())
//     fail N | succeed N        ok <admitted>        (N try_guard()s settled so)
//     hold                      admitted | refused   (a try_guard() kept open)
//     settle success|failure    ok | none            (the oldest held permit)
//     state                     closed | open | ...
//     trip|isolate|disable|reset ok
//     up                        1 | 0
//     await <state> <ms>        ok <us> | timeout <state>
//     generation                <metrics().generation>
//     transitions <from> <to>   <metrics().transitions.t(from, to)>
//     quit                      bye

#include <circuit/circuit.hpp>
#include <circuit/redis.hpp>

#include <chrono>
#include <cstdio>
#include <deque>
#include <iostream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <thread>

namespace {

using namespace std::chrono_literals;

std::map<std::string, std::string> parse(int argc, char** argv) {
  std::map<std::string, std::string> out;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    const auto eq = a.find('=');
    if (eq == std::string::npos) continue;
    out[a.substr(0, eq)] = a.substr(eq + 1);
  }
  return out;
}

long long num(const std::map<std::string, std::string>& args, const std::string& key, long long fallback) {
  const auto it = args.find(key);
  return it == args.end() ? fallback : std::stoll(it->second);
}

std::optional<circuit::state> state_named(const std::string& s) {
  for (auto st : circuit::all_states) {
    if (circuit::to_string(st) == s) return st;
  }
  return std::nullopt;
}

template <class Counter>
int run(const std::map<std::string, std::string>& args, Counter counter) {
  circuit::redis::settings s;
  s.host = "127.0.0.1";
  s.port = static_cast<int>(num(args, "port", 6379));
  s.prefix = args.at("prefix");
  s.manual = num(args, "manual", 1) != 0;
  s.subscribe = num(args, "subscribe", 1) != 0;
  s.sync_interval = std::chrono::milliseconds(num(args, "sync_ms", 20));
  s.command_timeout = std::chrono::milliseconds(num(args, "command_ms", 50));
  s.connect_timeout = std::chrono::milliseconds(num(args, "connect_ms", 200));
  s.probe_lease = std::chrono::milliseconds(num(args, "lease_ms", 10000));

  circuit::options opts;
  opts.name = args.at("name");
  opts.open_for = circuit::fixed{std::chrono::milliseconds(num(args, "open_for_ms", 10000))};
  opts.half_open_max_calls = static_cast<std::uint32_t>(num(args, "half_open", 1));
  opts.success_threshold = static_cast<std::uint32_t>(num(args, "success", 1));

  circuit::redis::store store(s);
  circuit::circuit_breaker<std::chrono::steady_clock, Counter> breaker(counter, opts);
  using permit_type = typename decltype(breaker)::guard_type;
  auto link = store.share(breaker);
  std::deque<permit_type> held;

  std::cout << "ready" << std::endl;
  std::string line;
  while (std::getline(std::cin, line)) {
    std::istringstream in(line);
    std::string cmd;
    in >> cmd;
    std::ostringstream out;
    if (cmd == "sync") {
      store.sync_now();
      out << "ok";
    } else if (cmd == "fail" || cmd == "succeed") {
      long long n = 0;
      in >> n;
      long long admitted = 0;
      for (long long i = 0; i < n; ++i) {
        auto p = breaker.try_guard();
        if (!p) continue;
        ++admitted;
        if (cmd == "fail") {
          p.failure();
        } else {
          p.success();
        }
      }
      out << "ok " << admitted;
    } else if (cmd == "hold") {
      auto p = breaker.try_guard();
      if (p) {
        held.push_back(std::move(p));
        out << "admitted";
      } else {
        out << "refused";
      }
    } else if (cmd == "settle") {
      std::string how;
      in >> how;
      if (held.empty()) {
        out << "none";
      } else {
        auto p = std::move(held.front());
        held.pop_front();
        if (how == "success") {
          p.success();
        } else {
          p.failure();
        }
        out << "ok";
      }
    } else if (cmd == "state") {
      out << circuit::to_string(breaker.current_state());
    } else if (cmd == "trip") {
      breaker.trip();
      out << "ok";
    } else if (cmd == "isolate") {
      breaker.isolate();
      out << "ok";
    } else if (cmd == "disable") {
      breaker.disable();
      out << "ok";
    } else if (cmd == "reset") {
      breaker.reset();
      out << "ok";
    } else if (cmd == "up") {
      out << (store.up() ? 1 : 0);
    } else if (cmd == "await") {
      std::string name;
      long long ms = 0;
      in >> name >> ms;
      const auto want = state_named(name);
      const auto start = std::chrono::steady_clock::now();
      const auto deadline = start + std::chrono::milliseconds(ms);
      bool ok = false;
      while (want) {
        if (breaker.current_state() == *want) {
          ok = true;
          break;
        }
        if (std::chrono::steady_clock::now() >= deadline) break;
        std::this_thread::sleep_for(200us);
      }
      if (ok) {
        out << "ok "
            << std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - start).count();
      } else {
        out << "timeout " << circuit::to_string(breaker.current_state());
      }
    } else if (cmd == "generation") {
      out << breaker.metrics().generation;
    } else if (cmd == "transitions") {
      std::string from, to;
      in >> from >> to;
      const auto f = state_named(from), t = state_named(to);
      if (f && t) {
        out << breaker.metrics().transitions(*f, *t);
      } else {
        out << "bad state";
      }
    } else if (cmd == "quit") {
      std::cout << "bye" << std::endl;
      break;
    } else {
      out << "unknown command '" << cmd << "'";
    }
    std::cout << out.str() << std::endl;
  }
  // Settle what is still held before the breaker goes (permits must not outlive it).
  for (auto& p : held) p.ignore();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const auto args = parse(argc, argv);
    const auto counter = args.count("counter") != 0 ? args.at("counter") : std::string("sliding");
    const auto window = std::chrono::milliseconds(num(args, "window_ms", 60000));
    if (counter == "rate") {
      circuit::failure_rate_window c;
      c.failure_rate = args.count("rate") != 0 ? std::stod(args.at("rate")) : 0.5;
      c.minimum_calls = static_cast<std::uint32_t>(num(args, "minimum_calls", 20));
      c.window = window;
      c.buckets = static_cast<std::uint32_t>(num(args, "buckets", 10));
      return run(args, c);
    }
    circuit::sliding_window c;
    c.max_failures = static_cast<std::uint32_t>(num(args, "max_failures", 3));
    c.window = window;
    return run(args, c);
  } catch (const std::exception& e) {
    std::cout << "error " << e.what() << std::endl;
    std::cerr << "circuit_redis_helper: " << e.what() << std::endl;
    return 2;
  }
}
