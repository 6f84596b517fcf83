// expect: returns an awaitable.*co_call
// call() on a callable that returns an awaitable (here a minimal hand-written
// one, so that this test needs no Asio) would record the creation of the
// operation, not its outcome: refused, pointing to co_call.
#include <circuit/circuit_breaker.hpp>

#include <coroutine>

struct later {
  bool await_ready() const noexcept { return false; }
  void await_suspend(std::coroutine_handle<>) const noexcept {}
  int await_resume() const noexcept { return 1; }
};

int main() {
  circuit::circuit_breaker<> b;
  (void)b.call([] { return later{}; });
}
