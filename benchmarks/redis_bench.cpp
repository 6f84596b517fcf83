// <circuit/redis.hpp>: what sharing a breaker costs a call (nothing, the
// network stays off the call path), and what one sync round trip costs for
// 1, 100 and 10,000 dirty shared breakers against a bare PING to the same
// redis-server in the same run. The benchmark starts redis-server itself
// on 127.0.0.1 (a free port, no persistence); without it the Redis
// benchmarks are skipped with a message. See benchmarks/README.md.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <circuit/circuit.hpp>
#include <circuit/redis.hpp>

#include "bench_common.hpp"

extern char** environ;

namespace {

using namespace std::chrono_literals;

// One redis-server for the whole run, stopped at exit.
class server {
 public:
  static server& get() {
    static server s;
    return s;
  }
  [[nodiscard]] bool running() const { return pid_ > 0; }
  [[nodiscard]] int port() const { return port_; }

  ~server() {
    if (pid_ > 0) {
      ::kill(pid_, SIGTERM);
      ::waitpid(pid_, nullptr, 0);
    }
    std::error_code ignored;
    if (!dir_.empty()) std::filesystem::remove_all(dir_, ignored);
  }

 private:
  server() {
    const auto exe = find("redis-server");
    if (!exe) return;
    port_ = free_port();
    dir_ = std::filesystem::temp_directory_path() / ("redis_bench_" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
    std::vector<std::string> args{*exe, "--port", std::to_string(port_), "--bind", "127.0.0.1", "--save", "",
                                  "--appendonly", "no", "--dir", dir_.string(), "--logfile",
                                  (dir_ / "redis.log").string()};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    if (::posix_spawn(&pid_, argv[0], nullptr, nullptr, argv.data(), environ) != 0) {
      pid_ = -1;
      return;
    }
    for (int i = 0; i < 500; ++i) {
      if (ping()) return;
      std::this_thread::sleep_for(10ms);
    }
  }

  static std::optional<std::string> find(const std::string& name) {
    const char* path = std::getenv("PATH");
    if (path == nullptr) return std::nullopt;
    const std::string dirs(path);
    for (std::size_t start = 0; start <= dirs.size();) {
      const auto end = std::min(dirs.find(':', start), dirs.size());
      const auto p = std::filesystem::path(dirs.substr(start, end - start)) / name;
      if (::access(p.c_str(), X_OK) == 0) return p.string();
      start = end + 1;
    }
    return std::nullopt;
  }

  static int free_port() {
    const int s = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    (void)::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a);
    (void)::getsockname(s, reinterpret_cast<sockaddr*>(&a), &len);
    ::close(s);
    return ntohs(a.sin_port);
  }

  [[nodiscard]] bool ping() const {
    circuit::redis::settings s;
    s.port = port_;
    circuit::redis::detail::connection c(s, 200ms);
    auto r = c.command({"PING"});
    return r && r->type == REDIS_REPLY_STATUS;
  }

  pid_t pid_ = -1;
  int port_ = 0;
  std::filesystem::path dir_;
};

circuit::redis::settings settings_for(bool manual) {
  circuit::redis::settings s;
  s.port = server::get().port();
  s.prefix = "bench";
  s.manual = manual;
  s.command_timeout = 5s;  // 10,000 scripts in one round trip
  return s;
}

// ---- Closed-state success: unshared vs shared (a live store, on Redis) ----

circuit::circuit_breaker<>& unshared_breaker() {
  static circuit::circuit_breaker<> b({}, {.name = "unshared"});
  return b;
}

struct shared_fixture {
  circuit::circuit_breaker<> breaker{{}, {.name = "shared"}};
  circuit::redis::store store{settings_for(false)};
  circuit::fleet::sharing link = store.share(breaker);
};

shared_fixture& shared() {
  static shared_fixture f;
  return f;
}

void BM_success_unshared(benchmark::State& state) {
  auto& b = unshared_breaker();
  for (auto _ : state) b.call(bench::noop);
}
BENCHMARK(BM_success_unshared);
BENCHMARK(BM_success_unshared)->Threads(2)->UseRealTime();

void BM_success_shared(benchmark::State& state) {
  if (!server::get().running()) {
    state.SkipWithError("redis-server not found on PATH: skipped");
    return;
  }
  auto& b = shared().breaker;
  for (auto _ : state) b.call(bench::noop);
}
BENCHMARK(BM_success_shared);
BENCHMARK(BM_success_shared)->Threads(2)->UseRealTime();

// ---- One round trip ----

void BM_redis_ping(benchmark::State& state) {
  if (!server::get().running()) {
    state.SkipWithError("redis-server not found on PATH: skipped");
    return;
  }
  circuit::redis::detail::connection c(settings_for(true), 5s);
  for (auto _ : state) {
    auto r = c.command({"PING"});
    if (!r) {
      state.SkipWithError("PING failed");
      return;
    }
  }
}
BENCHMARK(BM_redis_ping)->Unit(benchmark::kMicrosecond);

// One sync_now() of a manual store sharing N breakers, each with new
// evidence (a success) since the previous sync: N scripts, pipelined.
void BM_sync_dirty_breakers(benchmark::State& state) {
  if (!server::get().running()) {
    state.SkipWithError("redis-server not found on PATH: skipped");
    return;
  }
  const auto n = static_cast<std::size_t>(state.range(0));
  circuit::redis::store store(settings_for(true));
  std::vector<std::unique_ptr<circuit::circuit_breaker<>>> breakers;
  std::vector<circuit::fleet::sharing> links;
  for (std::size_t i = 0; i < n; ++i) {
    circuit::options o;
    o.name = "b" + std::to_string(i);
    breakers.push_back(std::make_unique<circuit::circuit_breaker<>>(circuit::sliding_window{}, o));
    links.push_back(store.share(*breakers.back()));
  }
  if (!store.sync_now()) {
    state.SkipWithError("the first sync failed");
    return;
  }
  for (auto _ : state) {
    state.PauseTiming();
    for (auto& b : breakers) b->call(bench::noop);
    state.ResumeTiming();
    if (!store.sync_now()) {
      state.SkipWithError("a sync failed");
      return;
    }
  }
}
BENCHMARK(BM_sync_dirty_breakers)->Arg(1)->Arg(100)->Arg(10000)->Unit(benchmark::kMicrosecond);

}  // namespace
