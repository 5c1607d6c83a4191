/// \file rng.hpp
/// The library's seeded, reproducible generator (xoshiro256**, Blackman & Vigna 2018) and the
/// integer/real draws built on it. Results are identical on every platform and standard library
/// (std::uniform_int_distribution and friends are implementation-defined), so a seed fixes a
/// simulation everywhere. NOT cryptographically secure: privacy noise uses fedpp/privacy's
/// secure generators instead.
#pragma once

#include <array>
#include <bit>
#include <cstdint>
#include <limits>

namespace fedpp {

namespace detail {
/// High and low 64 bits of a 64×64-bit product.
struct product128 {
  std::uint64_t high;
  std::uint64_t low;
};
[[nodiscard]] constexpr product128 multiply_wide(std::uint64_t a, std::uint64_t b) noexcept {
#if defined(__SIZEOF_INT128__)
  __extension__ typedef unsigned __int128 uint128;
  const uint128 m = static_cast<uint128>(a) * b;
  return {static_cast<std::uint64_t>(m >> 64), static_cast<std::uint64_t>(m)};
#else
  const std::uint64_t a_lo = a & 0xffffffffU, a_hi = a >> 32, b_lo = b & 0xffffffffU, b_hi = b >> 32;
  const std::uint64_t lo_lo = a_lo * b_lo, hi_lo = a_hi * b_lo, lo_hi = a_lo * b_hi, hi_hi = a_hi * b_hi;
  const std::uint64_t cross = (lo_lo >> 32) + (hi_lo & 0xffffffffU) + lo_hi;
  return {hi_hi + (hi_lo >> 32) + (cross >> 32), (cross << 32) | (lo_lo & 0xffffffffU)};
#endif
}
} // namespace detail

/// splitmix64 step: expands one 64-bit seed into well-mixed state words (Steele et al. 2014).
[[nodiscard]] constexpr std::uint64_t splitmix64(std::uint64_t& state) noexcept {
  std::uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

/// xoshiro256**: 256-bit state, period 2^256 − 1, satisfies std::uniform_random_bit_generator.
class rng {
public:
  using result_type = std::uint64_t;

  /// Seeds the state from one 64-bit seed through splitmix64.
  constexpr explicit rng(std::uint64_t seed = 0) noexcept {
    std::uint64_t s = seed;
    for (auto& word : state_) word = splitmix64(s);
  }

  /// An independent generator for a sub-stream (e.g. one per client per round): the same
  /// (seed, stream) always gives the same generator, different streams are decorrelated.
  [[nodiscard]] static constexpr rng for_stream(std::uint64_t seed, std::uint64_t stream) noexcept {
    std::uint64_t s = seed ^ (stream * 0xd1b54a32d192ed03ULL);
    return rng(splitmix64(s) ^ stream);
  }

  static constexpr result_type min() noexcept { return 0; }
  static constexpr result_type max() noexcept { return std::numeric_limits<result_type>::max(); }

  /// Next 64 random bits.
  constexpr result_type operator()() noexcept {
    const std::uint64_t result = std::rotl(state_[1] * 5, 7) * 9;
    const std::uint64_t t = state_[1] << 17;
    state_[2] ^= state_[0];
    state_[3] ^= state_[1];
    state_[1] ^= state_[2];
    state_[0] ^= state_[3];
    state_[2] ^= t;
    state_[3] = std::rotl(state_[3], 45);
    return result;
  }

  /// Uniform integer in [0, bound) without modulo bias (Lemire 2019, "Fast Random Integer
  /// Generation in an Interval"); bound must be > 0.
  constexpr std::uint64_t below(std::uint64_t bound) noexcept {
    auto m = detail::multiply_wide((*this)(), bound);
    if (m.low < bound) {
      const std::uint64_t threshold = (0 - bound) % bound;
      while (m.low < threshold) m = detail::multiply_wide((*this)(), bound);
    }
    return m.high;
  }

  /// Uniform double in [0, 1) with 53 random bits.
  constexpr double uniform() noexcept { return static_cast<double>((*this)() >> 11) * 0x1.0p-53; }

  /// Uniform double in (0, 1): never 0, safe for log().
  constexpr double uniform_open() noexcept {
    return (static_cast<double>((*this)() >> 11) + 0.5) * 0x1.0p-53;
  }

private:
  std::array<std::uint64_t, 4> state_{};
};

} // namespace fedpp
