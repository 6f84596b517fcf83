// expect: returns an awaitable.*co_call
// A set's call() on a lambda returning asio::awaitable<int>: refused,
// pointing to co_call.
#if defined(__clang__)  // Asio 1.22 does not detect clang's coroutines itself
#define ASIO_HAS_CO_AWAIT 1
#define ASIO_HAS_STD_COROUTINE 1
#endif
#include <asio/awaitable.hpp>
#include <circuit/circuit_breaker_set.hpp>

asio::awaitable<int> fetch();

int main() {
  circuit::circuit_breaker_set<> peers;
  (void)peers.call("db-1", [] { return fetch(); });
}
