// redis_fleet: two processes share one breaker through Redis, and one sees
// the other's trip (<circuit/redis.hpp>).
//
// It starts its own redis-server on 127.0.0.1 (a free port, no
// persistence, in a temp dir), then runs itself a second time as the peer
// process. Both share a breaker named "payments" under the prefix "shop".
// This process's calls to "payments" fail until its own counter trips; the
// peer, which made no call at all, hears of it through Redis (pub/sub) and
// refuses its calls too. Without redis-server on PATH it says so and exits 0.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <circuit/circuit.hpp>
#include <circuit/redis.hpp>

extern char** environ;

using namespace std::chrono_literals;

namespace {

std::optional<std::string> on_path(const std::string& name) {
  const char* path = std::getenv("PATH");
  if (path == nullptr) return std::nullopt;
  std::string dirs(path);
  std::size_t start = 0;
  while (start <= dirs.size()) {
    const auto end = std::min(dirs.find(':', start), dirs.size());
    const auto candidate = std::filesystem::path(dirs.substr(start, end - start)) / name;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate.string();
    start = end + 1;
  }
  return std::nullopt;
}

int free_port() {
  const int s = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (s < 0 || ::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      ::getsockname(s, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    throw std::runtime_error("cannot find a free port");
  }
  ::close(s);
  return ntohs(a.sin_port);
}

pid_t spawn(const std::vector<std::string>& args) {
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  pid_t pid = -1;
  if (::posix_spawn(&pid, argv[0], nullptr, nullptr, argv.data(), environ) != 0) {
    throw std::runtime_error("cannot start " + args[0]);
  }
  return pid;
}

bool answers_ping(int port) {
  timeval tv{0, 200000};
  redisContext* c = redisConnectWithTimeout("127.0.0.1", port, tv);
  bool ok = false;
  if (c != nullptr && c->err == 0) {
    redisSetTimeout(c, tv);
    if (auto* r = static_cast<redisReply*>(redisCommand(c, "PING"))) {
      ok = r->type == REDIS_REPLY_STATUS;
      freeReplyObject(r);
    }
  }
  if (c != nullptr) redisFree(c);
  return ok;
}

circuit::redis::settings fleet_settings(int port) {
  circuit::redis::settings s;
  s.host = "127.0.0.1";
  s.port = port;
  s.prefix = "shop";
  s.sync_interval = 100ms;
  return s;
}

// The second process: shares "payments", tells the first it is ready, and
// waits (at most 10 s) to hear that the breaker opened elsewhere.
int peer(int port, int ready_fd) {
  circuit::redis::store fleet(fleet_settings(port));
  circuit::circuit_breaker<> payments({}, {.name = "payments"});
  auto heard = payments.on_event(
      [](const circuit::event& e) {
        std::cout << "peer process:  payments " << e.from << " -> " << e.to << " (cause " << *e.cause
                  << "), without a single call of its own" << std::endl;
      },
      circuit::event_filter::state_changes);
  auto link = fleet.share(payments);
  for (int i = 0; i < 500 && !(fleet.up() && fleet.status().round_trips > 0); ++i) std::this_thread::sleep_for(10ms);
  std::this_thread::sleep_for(200ms);  // subscribed by now
  (void)!::write(ready_fd, "r", 1);
  ::close(ready_fd);
  for (int i = 0; i < 1000 && payments.current_state() == circuit::state::closed; ++i) std::this_thread::sleep_for(10ms);
  if (payments.current_state() != circuit::state::open) {
    std::cout << "peer process:  never heard of the trip" << std::endl;
    return 1;
  }
  const auto r = payments.try_call([] { return 42; });
  std::cout << "peer process:  its next call was " << (r.refused() ? "refused" : "run") << std::endl;
  return r.refused() ? 0 : 1;
}

int first(const std::string& self) {
  const auto server = on_path("redis-server");
  if (!server) {
    std::cout << "redis_fleet: skipped: redis-server is not on PATH (Debian: apt-get install redis-server)\n";
    return 0;
  }
  const int port = free_port();
  const auto dir = std::filesystem::temp_directory_path() / ("redis_fleet_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const pid_t redis = spawn({*server, "--port", std::to_string(port), "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "no", "--dir", dir.string(), "--daemonize", "no", "--logfile",
                             (dir / "redis.log").string()});
  int status = 1;
  pid_t other = -1;
  try {
    bool up = false;
    for (int i = 0; i < 500 && !(up = answers_ping(port)); ++i) std::this_thread::sleep_for(10ms);
    if (!up) throw std::runtime_error("redis-server did not answer PING");
    std::cout << "redis-server on 127.0.0.1:" << port << "\n";

    int ready[2];
    if (::pipe(ready) != 0) throw std::runtime_error("pipe");
    other = spawn({self, "--peer", std::to_string(port), std::to_string(ready[1])});
    ::close(ready[1]);

    circuit::redis::store fleet(fleet_settings(port));
    circuit::circuit_breaker<> payments({.max_failures = 3}, {.name = "payments"});
    auto said = payments.on_event(
        [](const circuit::event& e) {
          std::cout << "this process:  payments " << e.from << " -> " << e.to << " (cause " << *e.cause << ")"
                    << std::endl;
        },
        circuit::event_filter::state_changes);
    auto link = fleet.share(payments);

    pollfd p{ready[0], POLLIN, 0};
    char byte = 0;
    if (::poll(&p, 1, 10000) != 1 || ::read(ready[0], &byte, 1) != 1) throw std::runtime_error("the peer did not start");
    ::close(ready[0]);

    // The peer is down: each call fails, until the 4th failure in 60 s trips.
    for (int i = 0; i < 4; ++i) {
      const auto r = payments.try_call([]() -> int { throw std::runtime_error("connection refused"); });
      std::cout << "this process:  call " << i + 1 << (r.refused() ? " refused" : " failed") << std::endl;
    }
    int child = 0;
    ::waitpid(other, &child, 0);
    other = -1;
    std::cout << "store status:  " << fleet.status() << std::endl;
    status = WIFEXITED(child) && WEXITSTATUS(child) == 0 ? 0 : 1;
  } catch (const std::exception& e) {
    std::cerr << "redis_fleet: " << e.what() << "\n";
  }
  if (other > 0) {
    ::kill(other, SIGKILL);
    ::waitpid(other, nullptr, 0);
  }
  ::kill(redis, SIGTERM);
  ::waitpid(redis, nullptr, 0);
  std::error_code ignored;
  std::filesystem::remove_all(dir, ignored);
  return status;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 4 && std::string(argv[1]) == "--peer") return peer(std::atoi(argv[2]), std::atoi(argv[3]));
  // Run again as the peer: the path this one was started with.
  const auto self = std::filesystem::canonical("/proc/self/exe").string();
  return first(self);
}
