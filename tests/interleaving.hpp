#pragma once
// A success context for driving a race by hand: its current() runs the
// test's code between a recorder's load of its state and its write, as a
// reset() on another thread could, and answers for the breaker.

namespace test {

template <class Between>  // bool(int asked): asked counts the calls, from 1
struct interleaving {
  Between between;
  mutable int asked = 0;
  bool current() const {
    ++asked;
    return between(asked);
  }
};
template <class Between>
interleaving(Between) -> interleaving<Between>;

}  // namespace test
