// expect: key_for<(double, int>|K, Key, Hash>.*K = double; Key = int)
// A double looking up a peer of an int-keyed set: it would be stored as 3
// but found by the hash of 3.7, a new peer on every call. Refused at the
// caller's line, the diagnostic naming the key type.
#include <circuit/circuit_breaker_set.hpp>

int main() {
  circuit::circuit_breaker_set<circuit::circuit_breaker<>, int> peers;
  peers.call(3.7, [] {});
}
