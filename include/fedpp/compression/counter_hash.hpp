/// \file counter_hash.hpp
/// Stateless hashes of (seed, index), so element i's random number does not depend on the order
/// or the thread that draws it, and loops over indices vectorize:
/// - counter_hash: murmur3's finalizer on the keyed index (32-bit multiplies and shifts), the
///   quantizers' random source (well mixed, not a provably independent family);
/// - pairwise_hash: multiply-add-shift, a 2-wise independent (strongly universal) family of
///   32-bit keys (Dietzfelbinger 1996), and scramble32, a fixed bijection to apply to indices
///   first: the count sketch's buckets and signs.
/// Deterministic under a seed; not cryptographic.
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

/// Key of pairwise_hash: two 64-bit multipliers drawn from (seed, stream).
struct pairwise_key {
  std::uint64_t a = 0; ///< multiplier
  std::uint64_t b = 0; ///< addend

  /// The key of stream `stream` under `seed`: two splitmix64 outputs (Steele et al. 2014) of
  /// consecutive counters, so distinct streams (the rows of a sketch) get unrelated keys.
  [[nodiscard]] static constexpr pairwise_key from_seed(std::uint64_t seed, std::uint64_t stream) noexcept {
    return {splitmix64(seed + (2 * stream + 1) * 0x9e3779b97f4a7c15ULL),
            splitmix64(seed + (2 * stream + 2) * 0x9e3779b97f4a7c15ULL)};
  }
  /// splitmix64's output function.
  [[nodiscard]] static constexpr std::uint64_t splitmix64(std::uint64_t z) noexcept {
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
};

/// h(i) = ⌊((a·i + b) mod 2^64) / 2^32⌋ for a 32-bit key i: multiply-add-shift (Dietzfelbinger,
/// "Universal hashing and k-wise independent random variables via integer arithmetic without
/// primes", STACS 1996; Thorup, "High Speed Hashing for Integers and Strings", 2015, §3.3). With
/// a and b uniform on [0, 2^64), keys of w = 32 bits and 64-bit arithmetic, the top l bits are
/// strongly universal for l ≤ 64 − 32 + 1 = 33: for i ≠ k the pair (h(i), h(k)) is uniform on
/// [0, 2^32)², so every bit and every function of disjoint bits is 2-wise independent.
[[nodiscard]] constexpr std::uint32_t pairwise_hash(pairwise_key key, std::uint32_t i) noexcept {
  return static_cast<std::uint32_t>((key.a * i + key.b) >> 32);
}

/// scramble32's mix, in place (for plain integers and GCC vectors of 32-bit lanes alike).
template <class U>
constexpr void scramble_in_place(U& h) noexcept {
  h ^= h >> 16;
  h *= 0x85ebca6bU;
  h ^= h >> 13;
  h *= 0xc2b2ae35U;
  h ^= h >> 16;
}

/// A fixed bijection of [0, 2^32) (murmur3's fmix32: xor-shifts and odd multipliers, each
/// invertible). Composing a 2-wise independent family with a fixed bijection of its keys keeps
/// it 2-wise independent; what it changes is the structure of one key's hash values along
/// consecutive indices. Multiply-add-shift alone maps i, i + 1, i + 2, … to an arithmetic
/// progression modulo 2^64, so for a given key the pairs at some distances k collide for almost
/// every i, and data with a period (a weight matrix's columns) could line up with them;
/// scrambled first, index distances mean nothing to the hash.
[[nodiscard]] constexpr std::uint32_t scramble32(std::uint32_t i) noexcept {
  scramble_in_place(i);
  return i;
}

/// Uniform float in [0, 1) from the top 24 bits of a hash (exactly representable steps of 2^-24).
[[nodiscard]] constexpr float unit_uniform(std::uint32_t h) noexcept {
  return static_cast<float>(h >> 8) * 0x1.0p-24F;
}

} // namespace fedpp::compression
