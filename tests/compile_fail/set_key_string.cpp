// expect: key_for<(char ?\[5\], int>|K, Key, Hash>.*K = char ?\[5\]; Key = int)
// A string naming a peer of an int-keyed set: refused at the caller's line,
// the diagnostic naming the key type (not an error deep in the library).
#include <circuit/circuit_breaker_set.hpp>

int main() {
  circuit::circuit_breaker_set<circuit::circuit_breaker<>, int> peers;
  peers.call("db-1", [] {});
}
