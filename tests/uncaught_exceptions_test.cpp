// detail::uncaught_exceptions(): the count a guard takes when it is made,
// read from the runtime's per-thread globals instead of through
// std::uncaught_exceptions(). It must agree with the standard function,
// per thread, however deep the unwinding.

#include "catch.hpp"

#include <exception>
#include <stdexcept>
#include <thread>

#include <circuit/detail/uncaught_exceptions.hpp>

namespace {

struct counts {
  int ours = -1;
  int standard = -1;
};

counts read_counts() { return {circuit::detail::uncaught_exceptions(), std::uncaught_exceptions()}; }

// Records the counts from its destructor, which runs during unwinding.
struct witness {
  counts& seen;
  ~witness() { seen = read_counts(); }
};

}  // namespace

TEST_CASE("uncaught_exceptions is 0 with nothing in flight", "[uncaught_exceptions]") {
  const auto c = read_counts();
  CHECK(c.ours == 0);
  CHECK(c.standard == 0);
}

TEST_CASE("uncaught_exceptions counts an exception being unwound", "[uncaught_exceptions]") {
  counts seen;
  try {
    witness w{seen};
    throw std::runtime_error("unwinding");
  } catch (const std::runtime_error&) {
    // Caught: no longer uncaught.
    CHECK(circuit::detail::uncaught_exceptions() == 0);
  }
  CHECK(seen.standard == 1);
  CHECK(seen.ours == 1);
}

TEST_CASE("uncaught_exceptions counts exceptions nested in unwinding destructors", "[uncaught_exceptions]") {
  counts inner;
  struct nests {
    counts& inner;
    ~nests() {
      try {
        witness w{inner};
        throw std::logic_error("inner");
      } catch (const std::logic_error&) {
      }
    }
  };
  try {
    nests n{inner};
    throw std::runtime_error("outer");
  } catch (const std::runtime_error&) {
  }
  CHECK(inner.standard == 2);
  CHECK(inner.ours == 2);
}

TEST_CASE("uncaught_exceptions is per thread", "[uncaught_exceptions]") {
  // This thread has already read its count (and kept where it lives); a
  // new thread must find its own, and see none of this thread's exceptions.
  (void)circuit::detail::uncaught_exceptions();
  counts here;
  counts there;
  struct spawns {
    counts& here;
    counts& there;
    ~spawns() {
      here = read_counts();
      std::thread([&] { there = read_counts(); }).join();
    }
  };
  try {
    spawns s{here, there};
    throw std::runtime_error("on the main thread only");
  } catch (const std::runtime_error&) {
  }
  CHECK(here.ours == 1);
  CHECK(here.standard == 1);
  CHECK(there.ours == 0);
  CHECK(there.standard == 0);
}
