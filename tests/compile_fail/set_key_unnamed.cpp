// expect: Key needs a name: make it convert to std::string_view, give it a to_string
// A custom key with neither a to_string() nor an operator<<: the set cannot
// name its breakers, and says so when it is instantiated.
#include <cstddef>
#include <functional>

#include <circuit/circuit_breaker_set.hpp>

struct peer_id {
  int shard;
  int replica;
  friend bool operator==(const peer_id&, const peer_id&) = default;
};

template <>
struct std::hash<peer_id> {
  std::size_t operator()(const peer_id& p) const noexcept { return std::hash<int>{}(p.shard * 31 + p.replica); }
};

int main() {
  circuit::circuit_breaker_set<circuit::circuit_breaker<>, peer_id> peers;
  peers.call(peer_id{1, 2}, [] {});
}
