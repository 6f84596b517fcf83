#pragma once
// What a circuit_breaker_set asks of its peer ids: a hash that finds a
// string key by std::string_view or const char* without building a string
// (transparent_hash), which argument types a lookup takes (key_for), and a
// name for each peer's breaker (nameable_key).

#include <concepts>
#include <cstddef>
#include <functional>
#include <ostream>
#include <sstream>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include <circuit/detail/peer_id_bytes.hpp>

namespace circuit {

namespace detail {
// Converts to std::string_view: std::string, std::string_view, const char*,
// a string literal.
template <class T>
concept string_like = std::is_convertible_v<const T&, std::string_view>;

// `From` converts to `To` implicitly and loses no value doing so: `To{from}`
// would not narrow (an int for a long, not 3.7 for an int nor -1 for an
// unsigned).
template <class From, class To>
concept converts_without_narrowing =
    std::is_convertible_v<const From&, To> && requires { To{std::declval<const From&>()}; };
}  // namespace detail

/// Hashes a key, and a string-like value the same way as a string key, so
/// that a set of `std::string` peers is searched by `std::string_view` or
/// `const char*` without building a string. Takes nothing else: a value of
/// another type would hash as that type, not as the key it stands for.
/// Thread-safe (stateless).
template <class Key>
struct transparent_hash {
  using is_transparent = void;

  template <class K>
    requires std::same_as<K, Key> || (detail::string_like<K> && detail::string_like<Key>)
  [[nodiscard, gnu::always_inline]] std::size_t operator()(const K& key) const noexcept {
    if constexpr (detail::string_like<K> && detail::string_like<Key>) {
      // Inline, and fast for short ids (detail/peer_id_bytes.hpp).
      return static_cast<std::size_t>(detail::hash_id(std::string_view(key)));
    } else {
      return std::hash<K>{}(key);
    }
  }
};

namespace detail {
// A lookup that the table can make with the argument as it is: the key
// itself, or a type that a transparent Hash and the key's == both take (and
// that a new peer's key can be built from).
template <class K, class Key, class Hash>
concept direct_lookup = std::same_as<std::remove_cvref_t<K>, Key> ||
                        (requires { typename Hash::is_transparent; } && std::invocable<const Hash&, const K&> &&
                         std::constructible_from<Key, const K&> && requires(const Key& stored, const K& wanted) {
                           { stored == wanted } -> std::convertible_to<bool>;
                         });
}  // namespace detail

/// True when a `K` can name a peer of a set keyed by `Key` and hashed by
/// `Hash`: `Key` itself; a type the transparent `Hash` and `Key`'s `==`
/// take as it is (`std::string_view`, `const char*` or a string literal for
/// `std::string` keys with the default hash); or a type that converts to
/// `Key` without narrowing (an `int` for a `long` key, not a `double` for an
/// `int` key). Every lookup of `circuit_breaker_set` requires it, so a wrong
/// peer id is a compile error at the caller's line.
template <class K, class Key, class Hash = transparent_hash<Key>>
concept key_for = detail::direct_lookup<K, Key, Hash> || detail::converts_without_narrowing<K, Key>;

namespace detail::naming {
using std::to_string;  // ints and floating-point keys; ADL finds the others

template <class Key>
concept has_to_string = requires(const Key& key) {
  { to_string(key) };
  requires std::constructible_from<std::string, decltype(to_string(key))>;
};

template <class Key>
concept streamable = requires(std::ostream& out, const Key& key) {
  { out << key } -> std::convertible_to<std::ostream&>;
};

template <class Key>
std::string name_of(const Key& key) {
  if constexpr (string_like<Key>) {
    return std::string(std::string_view(key));
  } else if constexpr (has_to_string<Key>) {
    return std::string(to_string(key));
  } else if constexpr (streamable<Key>) {
    std::ostringstream out;
    out << key;
    return std::move(out).str();
  } else {
    return {};  // not nameable_key: the set's static_assert has said so
  }
}
}  // namespace detail::naming

/// True when a set can name the breaker of a `Key` peer: `Key` converts to
/// `std::string_view`, or has a `to_string(key)` (found by
/// argument-dependent lookup, or `std::to_string` for numbers) returning
/// something a `std::string` is made from, or an
/// `operator<<(std::ostream&, const Key&)`. Tried in that order.
template <class Key>
concept nameable_key = detail::string_like<Key> || detail::naming::has_to_string<Key> ||
                       detail::naming::streamable<Key>;

}  // namespace circuit
