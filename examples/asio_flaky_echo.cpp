// A breaker in front of an Asio coroutine, with a deadline (co_call).
//
// A flaky echo server runs on 127.0.0.1 in the same io_context as its
// client. On its successive connections it echoes, stalls, closes, closes,
// then echoes for good. The client calls it through a breaker that trips on
// 3 failures in a row, with a 100 ms deadline per call:
//
//   echo   -> success
//   stall  -> the deadline fires: call_timeout_error, a failure
//   close  -> an EOF, a failure at once (not at the deadline)
//   close  -> the third failure in a row: closed -> open
//   (refused while open: open_circuit_error, the server sees nothing)
//   echo   -> after open_for, open -> half_open; the probe succeeds:
//             half_open -> closed
//
// Build with the CMake target circuit::asio. Exits non-zero unless the
// breaker went closed -> open -> half_open -> closed.

#include <circuit/asio.hpp>

#include <array>
#include <chrono>
#include <cstddef>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include <asio.hpp>
#include <circuit/circuit_breaker.hpp>
#include <circuit/consecutive_failures.hpp>

namespace {

using asio::ip::tcp;
using namespace std::chrono_literals;

enum class behaviour { echo, stall, close };

// What the server does on its n-th connection; it echoes once this runs out.
constexpr std::array script{behaviour::echo, behaviour::stall, behaviour::close, behaviour::close};

asio::awaitable<void> serve(tcp::socket socket, behaviour what) {
  char data[64];
  asio::error_code ec;
  const auto n = co_await socket.async_read_some(asio::buffer(data), asio::redirect_error(asio::use_awaitable, ec));
  if (ec || what == behaviour::close) co_return;  // closing the socket: the client reads an EOF
  if (what == behaviour::stall) {
    // Say nothing until the client gives up and closes its end.
    co_await socket.async_read_some(asio::buffer(data), asio::redirect_error(asio::use_awaitable, ec));
    co_return;
  }
  co_await asio::async_write(socket, asio::buffer(data, n), asio::redirect_error(asio::use_awaitable, ec));
}

asio::awaitable<void> flaky_server(tcp::acceptor acceptor) {
  for (std::size_t n = 0;; ++n) {
    auto socket = co_await acceptor.async_accept(asio::use_awaitable);
    const auto what = n < script.size() ? script[n] : behaviour::echo;
    asio::co_spawn(acceptor.get_executor(), serve(std::move(socket), what), asio::detached);
  }
}

// The remote call: one request on a new connection.
asio::awaitable<std::string> echo(tcp::endpoint server, std::string message) {
  tcp::socket socket(co_await asio::this_coro::executor);
  co_await socket.async_connect(server, asio::use_awaitable);
  co_await asio::async_write(socket, asio::buffer(message), asio::use_awaitable);
  std::string reply(message.size(), '\0');
  co_await asio::async_read(socket, asio::buffer(reply), asio::use_awaitable);
  co_return reply;
}

using breaker_type = circuit::circuit_breaker<std::chrono::steady_clock, circuit::consecutive_failures>;

asio::awaitable<void> client(breaker_type& breaker, tcp::endpoint server, const bool& recovered) {
  asio::steady_timer pause(co_await asio::this_coro::executor);
  for (int call = 1; call <= 30 && !recovered; ++call) {
    std::optional<std::chrono::nanoseconds> retry_in;
    std::string outcome;
    try {
      outcome = "replied '" + co_await circuit::co_call(breaker, echo(server, "hello"), 100ms) + "'";
    } catch (const circuit::open_circuit_error& e) {
      // Refused without touching the network; wait until a probe is due.
      retry_in = e.retry_after().value_or(std::chrono::nanoseconds(50ms));
      outcome = "refused (" + std::string(to_string(e.state())) + "), retrying in " +
                std::to_string(std::chrono::ceil<std::chrono::milliseconds>(*retry_in).count()) + " ms";
    } catch (const circuit::call_timeout_error& e) {
      outcome = std::string("timed out: ") + e.what();
    } catch (const std::system_error& e) {
      outcome = "failed: " + e.code().message();
    }
    std::cout << "call " << call << ": " << outcome << "\n";
    if (retry_in) {  // not in the handler: a coroutine cannot suspend there
      pause.expires_after(*retry_in);
      co_await pause.async_wait(asio::use_awaitable);
    }
  }
}

}  // namespace

int main() {
  asio::io_context ioc;
  tcp::acceptor acceptor(ioc, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  const auto server = acceptor.local_endpoint();
  asio::co_spawn(ioc, flaky_server(std::move(acceptor)), asio::detached);

  breaker_type breaker(circuit::consecutive_failures{.threshold = 3},
                       {.name = "echo", .open_for = circuit::fixed{200ms}});

  std::vector<circuit::state> path{breaker.current_state()};
  bool recovered = false;
  auto sub = breaker.on_event(
      [&](const circuit::event& e) {
        std::cout << "  breaker '" << e.name << "': " << e.from << " -> " << e.to << "\n";
        path.push_back(e.to);
        recovered = e.from == circuit::state::half_open && e.to == circuit::state::closed;
      },
      circuit::event_filter::state_changes);

  asio::co_spawn(ioc, client(breaker, server, recovered), [&](std::exception_ptr) { ioc.stop(); });
  ioc.run();

  const std::vector<circuit::state> expected{circuit::state::closed, circuit::state::open, circuit::state::half_open,
                                             circuit::state::closed};
  const auto m = breaker.metrics();
  std::cout << "successes " << m.total.successes << ", failures " << m.total.failures << ", rejections "
            << m.total.rejections << "\n";
  if (path != expected) {
    std::cerr << "unexpected path of states\n";
    return 1;
  }
  std::cout << "closed -> open -> half_open -> closed\n";
  return 0;
}
