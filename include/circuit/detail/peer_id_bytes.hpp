#pragma once
// Hashing and comparing peer ids as bytes, inline: a set looks a peer up by
// its id on every call, and ids are short ("10.1.7.42:443", a host name, a
// tenant), so the out-of-line std::hash (MurmurHash over a loop) and
// memcmp would be most of a lookup's cost.
//
// The hash reads the id in at most two (overlapping) 8-byte loads when it
// is up to 16 bytes long (short_id_words_of(), which a set's links keep to
// compare ids), 16 bytes per round otherwise, and folds each pair of words
// with one 64 x 64 -> 128-bit multiply (the multiply-and-fold mix of the
// wyhash family). Not keyed: as with std::hash, a peer id chosen by an
// attacker can be made to collide.

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

namespace circuit::detail {

[[nodiscard, gnu::always_inline]] inline std::uint64_t load64(const char* p) noexcept {
  std::uint64_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
[[nodiscard, gnu::always_inline]] inline std::uint64_t load32(const char* p) noexcept {
  std::uint32_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

// The high and low halves of a * b, folded together.
[[nodiscard, gnu::always_inline]] inline std::uint64_t fold_multiply(std::uint64_t a, std::uint64_t b) noexcept {
  __extension__ using u128 = unsigned __int128;  // GCC and Clang; __extension__ keeps -Wpedantic quiet
  const auto product = static_cast<u128>(a) * b;
  return static_cast<std::uint64_t>(product) ^ static_cast<std::uint64_t>(product >> 64);
}

inline constexpr std::uint64_t hash_k0 = 0x9e3779b97f4a7c15ULL;  // 2^64 / golden ratio
inline constexpr std::uint64_t hash_k1 = 0xc2b2ae3d27d4eb4fULL;
inline constexpr std::uint64_t hash_k2 = 0x165667b19e3779f9ULL;

// Ids longer than 16 bytes: 16 bytes per round, then the last 16.
[[nodiscard, gnu::noinline]] inline std::uint64_t hash_long_id(const char* p, std::size_t n) noexcept {
  std::uint64_t h = hash_k0 ^ n;
  std::size_t i = 0;
  for (; i + 16 < n; i += 16) h = fold_multiply(load64(p + i) ^ hash_k1 ^ h, load64(p + i + 8) ^ hash_k2);
  return fold_multiply(load64(p + n - 16) ^ hash_k1 ^ h, load64(p + n - 8) ^ hash_k2 ^ n);
}

/// An id of up to 16 bytes as two words, read with at most two
/// (overlapping) loads: with the id's length they determine its bytes, so
/// two ids of one length up to 16 are equal exactly when their words are.
/// Zero for longer ids.
struct short_id_words {
  std::uint64_t a = 0, b = 0;
  friend bool operator==(const short_id_words&, const short_id_words&) = default;
};
inline constexpr std::size_t short_id_max = 16;

[[nodiscard, gnu::always_inline]] inline short_id_words short_id_words_of(std::string_view id) noexcept {
  const char* p = id.data();
  const std::size_t n = id.size();
  if (n >= 8) [[likely]] {
    if (n > short_id_max) return {};
    return {load64(p), load64(p + n - 8)};
  }
  if (n >= 4) return {load32(p), load32(p + n - 4)};
  if (n > 0) {
    return {(std::uint64_t{static_cast<unsigned char>(p[0])} << 16) |
                (std::uint64_t{static_cast<unsigned char>(p[n / 2])} << 8) | static_cast<unsigned char>(p[n - 1]),
            0};
  }
  return {};
}

/// A 64-bit hash of `id`'s bytes.
[[nodiscard, gnu::always_inline]] inline std::uint64_t hash_id(std::string_view id) noexcept {
  const std::size_t n = id.size();
  if (n > short_id_max) [[unlikely]] return hash_long_id(id.data(), n);
  const auto w = short_id_words_of(id);
  return fold_multiply(w.a ^ hash_k1 ^ n, w.b ^ hash_k2);  // nothing after the multiply: a lookup waits for it
}

}  // namespace circuit::detail
