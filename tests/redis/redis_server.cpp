#include "redis_server.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string_view>
#include <thread>

extern char** environ;

namespace redis_test {

namespace {

timeval to_timeval(std::chrono::milliseconds ms) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(ms.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((ms.count() % 1000) * 1000);
  return tv;
}

reply copy(const redisReply* r) {
  reply out;
  if (r == nullptr) return out;
  switch (r->type) {
    case REDIS_REPLY_STATUS: out.type = reply::kind::status; break;
    case REDIS_REPLY_ERROR: out.type = reply::kind::error; break;
    case REDIS_REPLY_INTEGER: out.type = reply::kind::integer; break;
    case REDIS_REPLY_STRING: out.type = reply::kind::string; break;
    case REDIS_REPLY_ARRAY: out.type = reply::kind::array; break;
    default: out.type = reply::kind::nil; break;
  }
  if (r->type == REDIS_REPLY_STATUS || r->type == REDIS_REPLY_ERROR || r->type == REDIS_REPLY_STRING) {
    out.str.assign(r->str, r->len);
  }
  if (r->type == REDIS_REPLY_INTEGER) out.integer = r->integer;
  if (r->type == REDIS_REPLY_ARRAY) {
    for (std::size_t i = 0; i < r->elements; ++i) out.elements.push_back(copy(r->element[i]));
  }
  return out;
}

// Reaps `pid` within `limit`; true when it exited.
bool reap_within(pid_t pid, std::chrono::milliseconds limit, int* status = nullptr) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  for (;;) {
    int st = 0;
    const pid_t r = ::waitpid(pid, &st, WNOHANG);
    if (r == pid || (r < 0 && errno == ECHILD)) {
      if (status != nullptr) *status = st;
      return true;
    }
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(1ms);
  }
}

pid_t spawn(const std::string& path, const std::vector<std::string>& args, posix_spawn_file_actions_t* actions) {
  std::vector<std::string> all;
  all.push_back(path);
  all.insert(all.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : all) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = -1;
  const int err = ::posix_spawn(&pid, path.c_str(), actions, nullptr, argv.data(), environ);
  if (err != 0) throw std::runtime_error("posix_spawn " + path + ": " + std::strerror(err));
  return pid;
}

std::string make_temp_dir() {
  const char* tmp = std::getenv("TMPDIR");
  std::string pattern = std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") + "/circuit_redis_XXXXXX";
  std::vector<char> buf(pattern.begin(), pattern.end());
  buf.push_back('\0');
  if (::mkdtemp(buf.data()) == nullptr) throw std::runtime_error("mkdtemp: " + std::string(std::strerror(errno)));
  return buf.data();
}

}  // namespace

bool in_ci() {
  const char* ci = std::getenv("CI");
  return ci != nullptr && std::string_view(ci) == "true";
}

std::optional<std::string> find_on_path(const std::string& name) {
  const char* path = std::getenv("PATH");
  const std::string dirs = path != nullptr ? path : "/usr/bin:/bin";
  std::size_t start = 0;
  while (start <= dirs.size()) {
    auto end = dirs.find(':', start);
    if (end == std::string::npos) end = dirs.size();
    const auto dir = dirs.substr(start, end - start);
    const auto full = (dir.empty() ? std::string(".") : dir) + "/" + name;
    if (::access(full.c_str(), X_OK) == 0) return full;
    start = end + 1;
  }
  return std::nullopt;
}

int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::runtime_error("socket: " + std::string(std::strerror(errno)));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    const std::string what = std::strerror(errno);
    ::close(fd);
    throw std::runtime_error("bind 127.0.0.1:0: " + what);
  }
  ::close(fd);
  return ntohs(addr.sin_port);
}

std::string unique_prefix() {
  static std::atomic<int> n{0};
  return "t" + std::to_string(::getpid()) + "_" + std::to_string(n.fetch_add(1));
}

// ------------------------------------------------------------ redis_server ---

redis_server::redis_server(std::string executable) : executable_(std::move(executable)) {
  dir_ = make_temp_dir();
  port_ = free_port();
  start();
}

redis_server::~redis_server() {
  try {
    stop();
  } catch (...) {
  }
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

void redis_server::start() {
  if (pid_ > 0) return;
  const std::vector<std::string> args = {
      "--port",       std::to_string(port_),
      "--bind",       "127.0.0.1",
      "--save",       "",
      "--appendonly", "no",
      "--dir",        dir_,
      "--logfile",    dir_ + "/redis.log",
      "--daemonize",  "no",
  };
  pid_ = spawn(executable_, args, nullptr);
  frozen_ = false;
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (!ping(200ms)) {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      throw std::runtime_error("redis-server exited at start on port " + std::to_string(port_) + ":\n" + log());
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      kill();
      throw std::runtime_error("redis-server did not answer PING within 10 s on port " + std::to_string(port_) +
                               ":\n" + log());
    }
    std::this_thread::sleep_for(2ms);
  }
}

void redis_server::stop() {
  if (pid_ <= 0) return;
  if (frozen_) thaw();
  ::kill(pid_, SIGTERM);
  if (!reap_within(pid_, 5s)) {
    ::kill(pid_, SIGKILL);
    reap_within(pid_, 5s);
  }
  pid_ = -1;
}

void redis_server::kill() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  reap_within(pid_, 5s);
  pid_ = -1;
  frozen_ = false;
}

void redis_server::freeze() {
  if (pid_ <= 0) throw std::runtime_error("freeze: redis-server is not running");
  ::kill(pid_, SIGSTOP);
  // Wait until the kernel reports it stopped, so that the test's clock starts then.
  for (int i = 0; i < 5000; ++i) {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG | WUNTRACED) == pid_ && WIFSTOPPED(status)) break;
    std::this_thread::sleep_for(100us);
  }
  frozen_ = true;
}

void redis_server::thaw() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGCONT);
  frozen_ = false;
}

reply redis_server::command(const std::vector<std::string>& args, std::chrono::milliseconds timeout) const {
  const auto tv = to_timeval(timeout);
  redisContext* c = redisConnectWithTimeout("127.0.0.1", port_, tv);
  if (c == nullptr) throw std::runtime_error("redis connect: out of memory");
  if (c->err != 0) {
    const std::string what = c->errstr;
    redisFree(c);
    throw std::runtime_error("redis connect to port " + std::to_string(port_) + ": " + what);
  }
  redisSetTimeout(c, tv);
  std::vector<const char*> argv;
  std::vector<std::size_t> lens;
  for (const auto& a : args) {
    argv.push_back(a.data());
    lens.push_back(a.size());
  }
  auto* r = static_cast<redisReply*>(redisCommandArgv(c, static_cast<int>(argv.size()), argv.data(), lens.data()));
  if (r == nullptr) {
    const std::string what = c->errstr;
    redisFree(c);
    throw std::runtime_error("redis command " + (args.empty() ? std::string() : args[0]) + ": " + what);
  }
  reply out = copy(r);
  freeReplyObject(r);
  redisFree(c);
  return out;
}

reply redis_server::checked(const std::vector<std::string>& args, std::chrono::milliseconds timeout) const {
  reply r = command(args, timeout);
  if (r.is_error()) throw std::runtime_error("redis " + (args.empty() ? std::string() : args[0]) + ": " + r.str);
  return r;
}

bool redis_server::ping(std::chrono::milliseconds timeout) const {
  try {
    const auto r = command({"PING"}, timeout);
    return r.type == reply::kind::status && r.str == "PONG";
  } catch (const std::runtime_error&) {
    return false;
  }
}

std::map<std::string, std::string> redis_server::hgetall(const std::string& key) const {
  const auto r = checked({"HGETALL", key});
  std::map<std::string, std::string> out;
  for (std::size_t i = 0; i + 1 < r.elements.size(); i += 2) out[r.elements[i].str] = r.elements[i + 1].str;
  return out;
}

std::string redis_server::type(const std::string& key) const { return checked({"TYPE", key}).str; }

long long redis_server::ttl(const std::string& key) const { return checked({"TTL", key}).integer; }

long long redis_server::pttl(const std::string& key) const { return checked({"PTTL", key}).integer; }

bool redis_server::exists(const std::string& key) const { return checked({"EXISTS", key}).integer == 1; }

void redis_server::flushall() const { checked({"FLUSHALL", "SYNC"}); }

void redis_server::client_pause(std::chrono::milliseconds ms) const {
  checked({"CLIENT", "PAUSE", std::to_string(ms.count()), "ALL"});
}

namespace {
// The value of `field=` in one CLIENT LIST line (0 when absent).
long long client_field(const std::string& line, const std::string& field) {
  const auto at = line.find(" " + field + "=");
  if (at == std::string::npos) return 0;
  return std::atoll(line.c_str() + at + field.size() + 2);
}
}  // namespace

int redis_server::subscribed_clients() const {
  std::istringstream in(checked({"CLIENT", "LIST"}).str);
  std::string line;
  int n = 0;
  while (std::getline(in, line)) {
    if (client_field(line, "sub") + client_field(line, "psub") + client_field(line, "ssub") > 0) ++n;
  }
  return n;
}

int redis_server::clients() const {
  std::istringstream in(checked({"CLIENT", "LIST"}).str);
  std::string line;
  int n = 0;
  while (std::getline(in, line)) {
    if (!line.empty()) ++n;
  }
  return n;
}

std::string redis_server::log() const {
  std::ifstream f(dir_ + "/redis.log");
  std::ostringstream s;
  s << f.rdbuf();
  return s.str();
}

std::unique_ptr<redis_server> start_server() {
  const auto exe = find_on_path("redis-server");
  if (!exe) return nullptr;
  return std::make_unique<redis_server>(*exe);
}

// ---------------------------------------------------------- helper_process ---

std::string helper_path() {
#ifdef CIRCUIT_REDIS_HELPER
  return CIRCUIT_REDIS_HELPER;
#else
  return "circuit_redis_helper";
#endif
}

helper_process::helper_process(const std::vector<std::string>& args, std::chrono::milliseconds timeout) {
  int to_child[2], from_child[2];
  if (::pipe2(to_child, O_CLOEXEC) != 0) throw std::runtime_error("pipe2: " + std::string(std::strerror(errno)));
  if (::pipe2(from_child, O_CLOEXEC) != 0) {
    ::close(to_child[0]);
    ::close(to_child[1]);
    throw std::runtime_error("pipe2: " + std::string(std::strerror(errno)));
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  // dup2 clears FD_CLOEXEC on the targets; the originals close at exec.
  posix_spawn_file_actions_adddup2(&actions, to_child[0], 0);
  posix_spawn_file_actions_adddup2(&actions, from_child[1], 1);
  try {
    pid_ = spawn(helper_path(), args, &actions);
  } catch (...) {
    posix_spawn_file_actions_destroy(&actions);
    for (int fd : {to_child[0], to_child[1], from_child[0], from_child[1]}) ::close(fd);
    throw;
  }
  posix_spawn_file_actions_destroy(&actions);
  ::close(to_child[0]);
  ::close(from_child[1]);
  in_ = to_child[1];
  out_ = from_child[0];
  const auto first = read_line(timeout);
  if (first != "ready") throw std::runtime_error("helper said '" + first + "' instead of 'ready'");
}

helper_process::~helper_process() {
  if (in_ >= 0) ::close(in_);
  if (pid_ > 0) wait(10s);
  if (out_ >= 0) ::close(out_);
}

void helper_process::send(const std::string& line) {
  const std::string data = line + "\n";
  std::size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = ::write(in_, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) throw std::runtime_error("write to helper: " + std::string(std::strerror(errno)));
    done += static_cast<std::size_t>(n);
  }
}

std::string helper_process::read_line(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    const auto nl = buffer_.find('\n');
    if (nl != std::string::npos) {
      std::string line = buffer_.substr(0, nl);
      buffer_.erase(0, nl + 1);
      return line;
    }
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) throw std::runtime_error("helper " + std::to_string(pid_) + " did not answer in time");
    pollfd p{out_, POLLIN, 0};
    const int r = ::poll(&p, 1, static_cast<int>(left.count()));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) continue;
    char buf[4096];
    const ssize_t n = ::read(out_, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) throw std::runtime_error("helper " + std::to_string(pid_) + " closed its stdout");
    buffer_.append(buf, static_cast<std::size_t>(n));
  }
}

std::string helper_process::ask(const std::string& line, std::chrono::milliseconds timeout) {
  send(line);
  return read_line(timeout);
}

void helper_process::signal(int sig) {
  if (pid_ > 0) ::kill(pid_, sig);
}

int helper_process::wait(std::chrono::milliseconds timeout) {
  if (pid_ <= 0) return 0;
  int status = 0;
  if (!reap_within(pid_, timeout, &status)) {
    ::kill(pid_, SIGKILL);
    reap_within(pid_, 5s, &status);
  }
  pid_ = -1;
  return status;
}

}  // namespace redis_test
