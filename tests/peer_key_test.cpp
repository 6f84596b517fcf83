// Tests of circuit/peer_key.hpp. transparent_hash: a string key hashes the
// same as its std::string_view and its const char*, so a set of
// std::string peers is searched by either without building a string (with
// an inline hash, detail/peer_id_bytes.hpp, that spreads ids well); other
// keys (here int) hash as std::hash does, and their breakers are named by
// their decimal text.

#include "catch.hpp"

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <functional>
#include <set>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include <circuit/circuit_breaker.hpp>
#include <circuit/circuit_breaker_set.hpp>
#include <circuit/detail/peer_id_bytes.hpp>
#include <circuit/manual_clock.hpp>
#include <circuit/state.hpp>

using namespace std::chrono_literals;

TEST_CASE("a string key hashes the same as std::string, std::string_view and const char*", "[transparent_hash]") {
  const circuit::transparent_hash<std::string> hash;
  for (const std::string key : {"", "db-1", "a-peer-id-well-beyond-the-small-string-buffer"}) {
    const std::string_view view = key;
    const char* chars = key.c_str();
    CHECK(hash(key) == hash(view));
    CHECK(hash(key) == hash(chars));
  }
  CHECK(hash("db-1") == hash(std::string("db-1")));  // a string literal too
  CHECK(hash(std::string_view("db-1")) != hash(std::string_view("db-2")));
}

TEST_CASE("string ids hash apart: every length, every byte, a hundred thousand addresses", "[transparent_hash]") {
  const circuit::transparent_hash<std::string> hash;
  // Ids of every length up to 40 (the short-id paths and the long loop),
  // each changed at each byte: the hash notices, and so do the two words a
  // set's link keeps of an id of up to 16 bytes (beside its length).
  const auto words = [](std::string_view id) { return circuit::detail::short_id_words_of(id); };
  for (std::size_t n = 0; n <= 40; ++n) {
    const std::string id(n, 'a');
    CHECK(hash(id) != hash(std::string(n + 1, 'a')));
    for (std::size_t i = 0; i < n; ++i) {
      std::string other = id;
      other[i] = 'b';
      CHECK(hash(other) != hash(id));
      if (n <= circuit::detail::short_id_max) {
        CHECK_FALSE(words(id) == words(other));
      } else {
        CHECK(words(other) == circuit::detail::short_id_words{});  // compared in full instead
      }
    }
  }
  // Addresses like a proxy's peers: no two of 100,000 collide in 64 bits,
  // and the low bits a table of 2^17 buckets uses spread them.
  std::set<std::size_t> hashes;
  std::vector<int> per_bucket(1 << 17);
  for (int i = 0; i < 100'000; ++i) {
    const auto id = "10." + std::to_string((i >> 16) & 255) + "." + std::to_string((i >> 8) & 255) + "." +
                    std::to_string(i & 255) + ":443";
    const auto h = hash(id);
    hashes.insert(h);
    ++per_bucket[h & ((1 << 17) - 1)];
  }
  CHECK(hashes.size() == 100'000);
  CHECK(*std::max_element(per_bucket.begin(), per_bucket.end()) <= 8);
}

TEST_CASE("transparent_hash is marked transparent for heterogeneous lookup", "[transparent_hash]") {
  STATIC_REQUIRE(std::is_same_v<circuit::transparent_hash<std::string>::is_transparent, void>);
  STATIC_REQUIRE(std::is_nothrow_invocable_r_v<std::size_t, circuit::transparent_hash<std::string>, const char*>);
}

TEST_CASE("a non-string key hashes as std::hash does", "[transparent_hash]") {
  const circuit::transparent_hash<int> hash;
  CHECK(hash(42) == std::hash<int>{}(42));
  CHECK(hash(-7) == std::hash<int>{}(-7));
}

TEST_CASE("int keys make a set whose breakers are named by the decimal text", "[transparent_hash]") {
  circuit::manual_clock clock;
  circuit::circuit_breaker_set<circuit::circuit_breaker<circuit::manual_clock>, int> peers({}, {}, clock);
  auto& b = peers.get(42);
  CHECK(b.name() == "42");
  CHECK(peers.get(-7).name() == "-7");
  CHECK(&peers.get(42) == &b);
  CHECK(peers.contains(42));
  CHECK_FALSE(peers.contains(43));
  CHECK(peers.size() == 2);

  CHECK(peers.call(42, [](int x) { return x * 2; }, 21) == 42);
  peers.guard(42).success();
  CHECK(b.metrics().total.successes == 2);

  b.isolate();
  CHECK(peers.open_circuits() == std::vector<int>{42});
  CHECK(peers.erase(-7));
  CHECK(peers.size() == 1);
}
