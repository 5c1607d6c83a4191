/// \file counter_hash.hpp
/// A counter-based random source: a stateless hash of (seed, index), so element i's random
/// number does not depend on the order or the thread that draws it, and loops over indices
/// vectorize (32-bit multiplies and shifts only). Deterministic under a seed; not cryptographic.
#pragma once

#include <cstdint>

namespace fedpp::compression {

/// Per-seed constants of counter_hash, computed once per call site.
struct counter_key {
  std::uint32_t lo = 0; ///< xor-ed into the low word of the index
  std::uint32_t hi = 0; ///< mixed with the high word of the index

  /// Keys from a 64-bit seed (splitmix64-style finalizer, Steele et al. 2014).
  [[nodiscard]] static constexpr counter_key from_seed(std::uint64_t seed) noexcept {
    std::uint64_t z = seed + 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    z ^= z >> 31;
    return {static_cast<std::uint32_t>(z), static_cast<std::uint32_t>(z >> 32) | 1U};
  }
};

/// counter_hash's mix, in place: `h` holds the low 32 bits of the index on entry and the hash on
/// exit; `hi_term` = (index >> 32)·0x9e3779b9. A template so that loops over 32-bit lanes (plain
/// integers, or GCC vectors of them) share it; by reference because a vector passed by value
/// would change the ABI between instruction sets.
template <class U>
constexpr void counter_mix_in_place(U& h, counter_key key, std::uint32_t hi_term) noexcept {
  h = ((h ^ key.lo) + hi_term) * key.hi;
  h ^= h >> 16;
  h *= 0x85ebca6bU;
  h ^= h >> 13;
  h *= 0xc2b2ae35U;
  h ^= h >> 16;
}

/// The hi_term of counter_mix_in_place for an index.
[[nodiscard]] constexpr std::uint32_t counter_high_term(std::uint64_t index) noexcept {
  return static_cast<std::uint32_t>(index >> 32) * 0x9e3779b9U;
}

/// 32 well-mixed bits of (key, index): murmur3's fmix32 finalizer (Appleby 2011) applied to the
/// keyed index. Indices ≥ 2^32 fold their high word in first.
[[nodiscard]] constexpr std::uint32_t counter_hash(counter_key key, std::uint64_t index) noexcept {
  auto h = static_cast<std::uint32_t>(index);
  counter_mix_in_place(h, key, counter_high_term(index));
  return h;
}

/// Uniform float in [0, 1) from the top 24 bits of a hash (exactly representable steps of 2^-24).
[[nodiscard]] constexpr float unit_uniform(std::uint32_t h) noexcept {
  return static_cast<float>(h >> 8) * 0x1.0p-24F;
}

} // namespace fedpp::compression
