// status_server: what operators see of a set of breakers, over HTTP.
//
// A set of peers is called on a schedule ("payments" fails for --fail-ms,
// then works for --ok-ms, over and over; "inventory" always works;
// "legacy" is disabled, so its calls pass whatever they do), and a small
// Asio server on 127.0.0.1 shows it:
//   GET /metrics   Prometheus text (<circuit/prometheus.hpp>)
//   GET /ready     {"circuits": {...}}: 200 when no circuit is open, else 503
//   GET /          the status page (<circuit/status_page.hpp>)
//   GET /quit      stops the server
// It serves for --seconds (3 by default) or until /quit. --port 0 (the
// default) takes a free port; the first line printed says which.
//
//   ./status_server --seconds 60 --port 8080 &
//   curl -i http://127.0.0.1:8080/ready

#include <asio.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>

#include <circuit/circuit.hpp>
#include <circuit/prometheus.hpp>
#include <circuit/status_page.hpp>

using namespace std::chrono_literals;
using asio::ip::tcp;

namespace {

using breaker_type = circuit::circuit_breaker<std::chrono::steady_clock, circuit::consecutive_failures>;
using set_type = circuit::circuit_breaker_set<breaker_type>;

struct settings {
  unsigned short port = 0;
  std::chrono::milliseconds serve_for = 3s;
  std::chrono::milliseconds fail_for = 1500ms;  // payments fails this long...
  std::chrono::milliseconds ok_for = 1500ms;    // ...then works this long
};

settings parse(int argc, char** argv) {
  settings s;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (i + 1 >= argc) throw std::invalid_argument("status_server: " + std::string(arg) + " needs a value");
    const long value = std::stol(argv[++i]);
    if (value < 0) throw std::invalid_argument("status_server: " + std::string(arg) + " must not be negative");
    if (arg == "--port" && value <= 65535) {
      s.port = static_cast<unsigned short>(value);
    } else if (arg == "--seconds") {
      s.serve_for = std::chrono::seconds(value);
    } else if (arg == "--fail-ms") {
      s.fail_for = std::chrono::milliseconds(value);
    } else if (arg == "--ok-ms") {
      s.ok_for = std::chrono::milliseconds(value);
    } else {
      throw std::invalid_argument("status_server: unknown option " + std::string(arg) +
                                  " (--port N, --seconds N, --fail-ms N, --ok-ms N)");
    }
  }
  return s;
}

// The made-up traffic: every peer called every 20 ms.
void traffic(set_type& peers, const settings& s, const std::atomic<bool>& stop) {
  const auto start = std::chrono::steady_clock::now();
  const auto cycle = s.fail_for + s.ok_for;
  std::uint64_t n = 0;
  while (!stop.load()) {
    const auto t = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start);
    const bool payments_down = cycle.count() > 0 && t % cycle < s.fail_for;
    if (auto p = peers.try_guard("payments")) payments_down ? p.failure() : p.success();
    if (auto p = peers.try_guard("inventory")) p.success();
    if (auto p = peers.try_guard("legacy")) (++n % 2 == 0) ? p.failure() : p.success();
    std::this_thread::sleep_for(20ms);
  }
}

struct response {
  int status = 200;
  std::string type = "text/plain; charset=utf-8";
  std::string body;
};

response route(std::string_view path, set_type& peers, bool& quit) {
  response r;
  std::ostringstream body;
  if (path == "/metrics") {
    circuit::prometheus_writer(body).add(peers);  // the destructor writes it
    r.type = "text/plain; version=0.0.4; charset=utf-8";
  } else if (path == "/ready") {
    circuit::write_status_json(body, peers);
    r.status = peers.open_circuits().empty() ? 200 : 503;
    r.type = "application/json";
  } else if (path == "/") {
    circuit::write_status_html(body, peers, {.title = "status_server", .refresh = 2s});
    r.type = "text/html; charset=utf-8";
  } else if (path == "/quit") {
    body << "bye\n";
    quit = true;
  } else {
    r.status = 404;
    body << "not found\n";
  }
  r.body = body.str();
  return r;
}

std::string_view reason(int status) {
  switch (status) {
    case 200: return "OK";
    case 404: return "Not Found";
    case 503: return "Service Unavailable";
    default: return "Bad Request";
  }
}

// One connection: read the request head, answer, close.
class session : public std::enable_shared_from_this<session> {
 public:
  session(tcp::socket socket, set_type& peers, asio::io_context& io)
      : socket_(std::move(socket)), peers_(peers), io_(io) {}

  void start() {
    auto self = shared_from_this();
    asio::async_read_until(socket_, request_, "\r\n\r\n", [self](std::error_code ec, std::size_t) {
      if (!ec) self->answer();
    });
  }

 private:
  void answer() {
    std::istream in(&request_);
    std::string method, target;
    in >> method >> target;
    bool quit = false;
    response r;
    if (method != "GET") {
      r.status = 400;
      r.body = "only GET\n";
    } else {
      r = route(target.substr(0, target.find('?')), peers_, quit);
    }
    std::ostringstream head;
    head << "HTTP/1.1 " << r.status << ' ' << reason(r.status) << "\r\nContent-Type: " << r.type
         << "\r\nContent-Length: " << r.body.size() << "\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n";
    reply_ = head.str() + r.body;
    auto self = shared_from_this();
    asio::async_write(socket_, asio::buffer(reply_), [self, quit](std::error_code, std::size_t) {
      std::error_code ignored;
      self->socket_.shutdown(tcp::socket::shutdown_both, ignored);
      if (quit) self->io_.stop();
    });
  }

  tcp::socket socket_;
  set_type& peers_;
  asio::io_context& io_;
  asio::streambuf request_;
  std::string reply_;
};

void accept(tcp::acceptor& acceptor, set_type& peers, asio::io_context& io) {
  acceptor.async_accept([&](std::error_code ec, tcp::socket socket) {
    if (!ec) std::make_shared<session>(std::move(socket), peers, io)->start();
    if (acceptor.is_open()) accept(acceptor, peers, io);
  });
}

}  // namespace

int main(int argc, char** argv) try {
  const settings s = parse(argc, argv);

  // 3 failures in a row open a peer's circuit for half a second.
  set_type peers(circuit::consecutive_failures{.threshold = 3}, circuit::options{.open_for = circuit::fixed{500ms}});
  (void)peers.get("inventory");
  (void)peers.get("payments");
  peers.get("legacy").disable();  // an operator's bypass: shown grey, never opens

  asio::io_context io;
  tcp::acceptor acceptor(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), s.port));
  std::cout << "listening on http://127.0.0.1:" << acceptor.local_endpoint().port() << "/" << std::endl;
  accept(acceptor, peers, io);

  asio::steady_timer deadline(io, s.serve_for);
  deadline.async_wait([&](std::error_code ec) {
    if (!ec) io.stop();
  });

  std::atomic<bool> stop{false};
  std::thread caller([&] { traffic(peers, s, stop); });
  io.run();
  stop = true;
  caller.join();

  const auto m = peers.metrics("payments");
  std::cout << "payments: " << (m ? m->total.failures : 0) << " failures, " << (m ? m->total.rejections : 0)
            << " rejected, now " << (m ? circuit::to_string(m->state) : "unknown") << "\n";
  return 0;
} catch (const std::exception& e) {
  std::cerr << e.what() << "\n";
  return 1;
}
