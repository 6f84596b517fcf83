// expect: returns an awaitable.*co_call
// wrap() of a function returning asio::awaitable<void>, refused when the
// wrapper is invoked, pointing to co_call.
#if defined(__clang__)  // Asio 1.22 does not detect clang's coroutines itself
#define ASIO_HAS_CO_AWAIT 1
#define ASIO_HAS_STD_COROUTINE 1
#endif
#include <asio/awaitable.hpp>
#include <circuit/circuit_breaker.hpp>

asio::awaitable<void> publish(int);

int main() {
  circuit::circuit_breaker<> b;
  auto guarded = b.wrap(publish);
  (void)guarded(1);
}
