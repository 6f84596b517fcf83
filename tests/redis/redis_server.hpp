#pragma once
// The fixture of the Redis tests: a real redis-server on 127.0.0.1 that a
// test starts, stops, restarts, freezes and talks to, and helper processes
// (tests/redis/redis_helper.cpp) that share breakers with the test through it.
//
// Every test starts its own server on a free port, in its own temp dir, with
// persistence off; the server is stopped and the dir removed at teardown.
// Without redis-server on PATH a test skips with a message, except when the
// environment has CI=true, where it fails (REDIS_TEST_SERVER).

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace redis_test {

using namespace std::chrono_literals;

/// True when the environment has CI=true: a missing redis-server fails instead of skips.
bool in_ci();

/// The full path of `name` on PATH, if any.
std::optional<std::string> find_on_path(const std::string& name);

/// A TCP port on 127.0.0.1 that was free a moment ago: bound with port 0, read back, closed.
int free_port();

/// One Redis reply, copied out of hiredis.
struct reply {
  enum class kind { nil, status, error, integer, string, array };
  kind type = kind::nil;
  std::string str;  // status, error, string
  long long integer = 0;
  std::vector<reply> elements;  // array

  bool is_error() const { return type == kind::error; }
};

/// A redis-server child process. Not thread-safe: one test thread drives it.
class redis_server {
 public:
  /// Starts `executable` on a free port (see start()); throws std::runtime_error
  /// when it does not answer PING within 10 s.
  explicit redis_server(std::string executable);
  /// stop(); removes the temp dir.
  ~redis_server();
  redis_server(const redis_server&) = delete;
  redis_server& operator=(const redis_server&) = delete;

  int port() const { return port_; }
  pid_t pid() const { return pid_; }
  bool running() const { return pid_ > 0; }

  /// Starts the server (again) on the same port and waits for PING.
  void start();
  /// SIGTERM (thawing it first if frozen), waits up to 5 s, then SIGKILL; idempotent.
  void stop();
  /// SIGKILL and reap: a crash, no shutdown.
  void kill();
  /// SIGSTOP: the server keeps its sockets but answers nothing.
  void freeze();
  /// SIGCONT.
  void thaw();

  /// One command on a new connection (so that a broken connection never
  /// carries over); throws std::runtime_error when the server cannot be reached
  /// or does not answer within `timeout`. Error replies are returned, not thrown.
  reply command(const std::vector<std::string>& args, std::chrono::milliseconds timeout = 5s) const;
  /// command() that throws std::runtime_error on an error reply too.
  reply checked(const std::vector<std::string>& args, std::chrono::milliseconds timeout = 5s) const;

  /// Whether PING answers PONG within `timeout`.
  bool ping(std::chrono::milliseconds timeout = 200ms) const;
  /// HGETALL `key` as a map (empty when the key does not exist).
  std::map<std::string, std::string> hgetall(const std::string& key) const;
  /// TYPE `key`: "hash", "string", "none", ...
  std::string type(const std::string& key) const;
  /// TTL `key` in seconds: -1 without expiry, -2 when missing.
  long long ttl(const std::string& key) const;
  /// PTTL `key` in milliseconds: -1 without expiry, -2 when missing.
  long long pttl(const std::string& key) const;
  /// EXISTS `key`.
  bool exists(const std::string& key) const;
  /// FLUSHALL (synchronous).
  void flushall() const;
  /// CLIENT PAUSE `ms` (ALL): every client's commands wait that long.
  void client_pause(std::chrono::milliseconds ms) const;

  /// Connected clients that subscribe to something (CLIENT LIST: sub, psub
  /// or ssub above 0): to wait until stores listen before a test relies on it.
  int subscribed_clients() const;
  /// Connected clients (CLIENT LIST lines).
  int clients() const;

  /// The server's log (its --logfile), for failure messages.
  std::string log() const;

 private:
  std::string executable_;
  std::string dir_;
  int port_ = 0;
  pid_t pid_ = -1;
  bool frozen_ = false;
};

/// redis-server started for one test, or nullptr when it is not on PATH
/// (the REDIS_TEST_SERVER macro then skips or, under CI=true, fails).
std::unique_ptr<redis_server> start_server();

/// The path of the helper executable (tests/redis/redis_helper.cpp).
std::string helper_path();

/// A spawned helper process (posix_spawn, not fork) driven by lines on its
/// stdin; it answers each with one line on its stdout. Its stderr is the test's.
/// Not thread-safe: one test thread drives it.
class helper_process {
 public:
  /// Spawns the helper with `args` (after argv[0]) and waits for its "ready"
  /// line (throws std::runtime_error when it does not come within `timeout`).
  explicit helper_process(const std::vector<std::string>& args, std::chrono::milliseconds timeout = 20s);
  /// Closes its stdin (the helper exits on EOF) and reaps it, SIGKILL after 10 s.
  ~helper_process();
  helper_process(const helper_process&) = delete;
  helper_process& operator=(const helper_process&) = delete;

  pid_t pid() const { return pid_; }

  /// Writes `line` and a newline to the helper's stdin.
  void send(const std::string& line);
  /// The next line of its stdout, without the newline; throws std::runtime_error
  /// on timeout or EOF.
  std::string read_line(std::chrono::milliseconds timeout = 20s);
  /// send() then read_line().
  std::string ask(const std::string& line, std::chrono::milliseconds timeout = 20s);

  /// Sends `sig` to the helper.
  void signal(int sig);
  /// Reaps the helper (waitpid); returns the raw wait status. Kills it with
  /// SIGKILL first when it does not exit within `timeout`.
  int wait(std::chrono::milliseconds timeout = 10s);
  /// True once wait() has reaped it.
  bool reaped() const { return pid_ <= 0; }

 private:
  pid_t pid_ = -1;
  int in_ = -1;   // its stdin (we write)
  int out_ = -1;  // its stdout (we read)
  std::string buffer_;
};

/// The elapsed time of `f()` in the steady clock.
template <class F>
std::chrono::nanoseconds timed(F&& f) {
  const auto start = std::chrono::steady_clock::now();
  f();
  return std::chrono::steady_clock::now() - start;
}

/// Polls `done()` every `step` until it returns true or `limit` passes;
/// returns whether it did (evaluating it once more at the end).
template <class F>
bool poll_until(F&& done, std::chrono::milliseconds limit, std::chrono::microseconds step = 500us);

/// A unique prefix for one test's keys ("t<pid>_<n>").
std::string unique_prefix();

}  // namespace redis_test

#include <thread>

template <class F>
bool redis_test::poll_until(F&& done, std::chrono::milliseconds limit, std::chrono::microseconds step) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(step);
  }
  return done();
}

/// Starts redis-server into `var` (a redis_test::redis_server&), or skips the
/// test with a message when redis-server is not on PATH (fails under CI=true).
#define REDIS_TEST_SERVER(var)                                                                          \
  auto var##_owner = ::redis_test::start_server();                                                     \
  if (!var##_owner) {                                                                                   \
    if (::redis_test::in_ci()) FAIL("redis-server not found on PATH, and CI=true");                    \
    WARN("SKIPPED: redis-server not found on PATH (install redis-server; CI=true makes this fail)"); \
    return;                                                                                             \
  }                                                                                                     \
  ::redis_test::redis_server& var = *var##_owner
