#pragma once
// One hiredis connection (the synchronous API of hiredis 0.14): opened
// with connect_timeout, every command bounded by command_timeout, and
// thrown away after any error (hiredis leaves a context in error for good).

#include <sys/socket.h>
#include <sys/time.h>

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <hiredis/hiredis.h>

#include <circuit/redis/settings.hpp>

namespace circuit::redis::detail {

struct context_deleter {
  void operator()(redisContext* c) const noexcept { redisFree(c); }
};
struct reply_deleter {
  void operator()(redisReply* r) const noexcept { freeReplyObject(r); }
};
using context_ptr = std::unique_ptr<redisContext, context_deleter>;
using reply_ptr = std::unique_ptr<redisReply, reply_deleter>;

[[nodiscard]] inline timeval to_timeval(std::chrono::milliseconds d) noexcept {
  timeval tv{};
  tv.tv_sec = static_cast<decltype(tv.tv_sec)>(d.count() / 1000);
  tv.tv_usec = static_cast<decltype(tv.tv_usec)>((d.count() % 1000) * 1000);
  return tv;
}

/// A connection to Redis. Not thread-safe: one thread uses it.
class connection {
 public:
  /// Connects within `s.connect_timeout`, then bounds every command by
  /// `command` (zero: no bound, for a subscriber that waits for messages).
  /// On failure the connection is not `ok()` and `error()` says why.
  connection(const settings& s, std::chrono::milliseconds command) {
    const auto tv = to_timeval(s.connect_timeout);
    redisContext* c = s.unix_socket.empty() ? redisConnectWithTimeout(s.host.c_str(), s.port, tv)
                                            : redisConnectUnixWithTimeout(s.unix_socket.c_str(), tv);
    if (c == nullptr) {
      error_ = "cannot allocate a hiredis context";
      return;
    }
    context_.reset(c);
    if (c->err != 0) {
      fail(c->errstr);
      return;
    }
    if (redisSetTimeout(c, to_timeval(command)) != REDIS_OK) fail("cannot set the command timeout");
  }

  [[nodiscard]] bool ok() const noexcept { return context_ != nullptr; }
  [[nodiscard]] const std::string& error() const noexcept { return error_; }
  [[nodiscard]] int fd() const noexcept { return context_ ? context_->fd : -1; }

  /// Queues one command (pipelined); false when the connection failed.
  bool append(const std::vector<std::string>& args) {
    if (!ok()) return false;
    argv_.clear();
    lens_.clear();
    for (const auto& a : args) {
      argv_.push_back(a.data());
      lens_.push_back(a.size());
    }
    if (redisAppendCommandArgv(context_.get(), static_cast<int>(args.size()), argv_.data(), lens_.data()) != REDIS_OK) {
      fail(context_->errstr);
      return false;
    }
    return true;
  }

  /// The next reply (sending what is queued first); null when the
  /// connection failed (a timeout included): it is then closed.
  reply_ptr next_reply() {
    if (!ok()) return nullptr;
    void* r = nullptr;
    if (redisGetReply(context_.get(), &r) != REDIS_OK || r == nullptr) {
      fail(context_->err != 0 ? context_->errstr : "no reply");
      return nullptr;
    }
    return reply_ptr(static_cast<redisReply*>(r));
  }

  /// One command and its reply.
  reply_ptr command(const std::vector<std::string>& args) {
    if (!append(args)) return nullptr;
    return next_reply();
  }

  /// Shuts the socket down, from another thread, so that a blocked read
  /// returns (the owner then sees an error).
  static void interrupt(int fd) noexcept {
    if (fd >= 0) ::shutdown(fd, SHUT_RDWR);
  }

 private:
  void fail(std::string_view why) {
    error_ = std::string(why);
    if (error_.empty()) error_ = "connection error";
    context_.reset();
  }

  context_ptr context_;
  std::string error_;
  std::vector<const char*> argv_;
  std::vector<std::size_t> lens_;
};

}  // namespace circuit::redis::detail
