#pragma once
// A TCP server on 127.0.0.1 (an ephemeral port) that lives in the test's
// io_context, and the client operations the tests put through co_call.
//
// Everything Asio owns lives in coroutine frames (the acceptor, every
// connection), so destroying the io_context, in any state, destroys them
// all; what the tests look at lives in a shared `server_state`.

#include <atomic>
#include <cstddef>
#include <exception>
#include <functional>
#include <memory>
#include <string>

#include <asio.hpp>

namespace asio_test {

using asio::ip::tcp;

/// What the server does with each message it reads.
enum class reply {
  echo,   ///< writes it back
  close,  ///< closes the connection: the client reads an EOF
  stall,  ///< says nothing and keeps the connection open
};

struct server_state {
  tcp::endpoint endpoint;
  std::atomic<reply> mode{reply::echo};
  /// Also closes every `close_every`-th message of a connection (0: never).
  std::atomic<unsigned> close_every{0};
  std::atomic<int> accepted{0};
  std::atomic<int> messages{0};
  /// Called (on the server's thread) with each message, before replying.
  std::function<void()> on_message;
};

inline asio::awaitable<void> serve(tcp::socket socket, std::shared_ptr<server_state> state) {
  char data[256];
  unsigned count = 0;
  for (;;) {
    std::size_t n = 0;
    try {
      n = co_await socket.async_read_some(asio::buffer(data), asio::use_awaitable);
    } catch (const std::system_error&) {
      co_return;  // the client went away
    }
    state->messages.fetch_add(1);
    if (state->on_message) state->on_message();
    ++count;
    const auto every = state->close_every.load();
    const auto mode = (every != 0 && count % every == 0) ? reply::close : state->mode.load();
    if (mode == reply::close) co_return;  // the socket closes with the frame
    if (mode == reply::stall) continue;
    try {
      co_await asio::async_write(socket, asio::buffer(data, n), asio::use_awaitable);
    } catch (const std::system_error&) {
      co_return;
    }
  }
}

inline asio::awaitable<void> accept_loop(tcp::acceptor acceptor, std::shared_ptr<server_state> state) {
  for (;;) {
    auto socket = co_await acceptor.async_accept(asio::use_awaitable);
    state->accepted.fetch_add(1);
    asio::co_spawn(acceptor.get_executor(), serve(std::move(socket), state), asio::detached);
  }
}

/// Starts a server in `ioc`; it runs until the io_context stops or dies.
inline std::shared_ptr<server_state> start_server(asio::io_context& ioc) {
  auto state = std::make_shared<server_state>();
  tcp::acceptor acceptor(ioc, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  state->endpoint = acceptor.local_endpoint();
  asio::co_spawn(ioc, accept_loop(std::move(acceptor), state), asio::detached);
  return state;
}

/// Reads `size` bytes. By read_some, not async_read: a composed read
/// ignores `total` cancellation (it may have read part of the data), and
/// the tests cancel with every type.
inline asio::awaitable<std::string> read_reply(tcp::socket& socket, std::size_t size) {
  std::string answer(size, '\0');
  std::size_t got = 0;
  while (got < size) {
    got += co_await socket.async_read_some(asio::buffer(answer.data() + got, size - got), asio::use_awaitable);
  }
  co_return answer;
}

/// One request on a new connection: sends `message`, returns the reply.
/// Throws `std::system_error` (asio::error::eof when the server closes).
/// Sets `*started` when it starts running, and `*unwound` once its frame's
/// locals (the socket) are gone, however it ends.
inline asio::awaitable<std::string> echo(tcp::endpoint endpoint, std::string message = "ping",
                                         bool* started = nullptr, bool* unwound = nullptr) {
  struct on_exit {
    bool* flag;
    ~on_exit() {
      if (flag != nullptr) *flag = true;
    }
  } mark_unwound{unwound};
  if (started != nullptr) *started = true;
  tcp::socket socket(co_await asio::this_coro::executor);
  co_await socket.async_connect(endpoint, asio::use_awaitable);
  co_await asio::async_write(socket, asio::buffer(message), asio::use_awaitable);
  co_return co_await read_reply(socket, message.size());
}

/// One request on a kept connection, (re)connecting it when it is closed;
/// closes it when the request fails.
inline asio::awaitable<std::string> echo_on(tcp::socket& socket, tcp::endpoint endpoint) {
  try {
    if (!socket.is_open()) co_await socket.async_connect(endpoint, asio::use_awaitable);
    static constexpr char message[] = "ping";
    co_await asio::async_write(socket, asio::buffer(message, 4), asio::use_awaitable);
    co_return co_await read_reply(socket, 4);
  } catch (...) {
    asio::error_code ignored;
    socket.close(ignored);
    throw;
  }
}

/// An operation that is complete as soon as it starts.
inline asio::awaitable<int> ready(int value) { co_return value; }

/// Runs `body` as a coroutine on `ioc` until it finishes, then stops `ioc`
/// (the server would keep it running); rethrows what `body` threw.
template <class Body>
void run_until_done(asio::io_context& ioc, Body body) {
  std::exception_ptr error;
  asio::co_spawn(ioc, std::move(body), [&](std::exception_ptr e) {
    error = e;
    ioc.stop();
  });
  ioc.run();
  if (error) std::rethrow_exception(error);
}

}  // namespace asio_test
