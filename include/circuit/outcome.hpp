#pragma once
// How one call went, in the breaker's eyes.

#include <cstdint>

namespace circuit {

/// What an ErrorPredicate can say about a call. `ignored` counts neither
/// way (resilience4j's ignored exceptions) and gives back a half_open probe
/// slot without deciding anything.
enum class outcome : std::uint8_t { success, failure, ignored };

}  // namespace circuit
