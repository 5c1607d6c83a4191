/// \file gaussian_noise.hpp
/// Vectorized Gaussian noise from secure_rng: Box–Muller (1958) in float on blocks of 256 words,
/// with branch-free polynomial log/sin/cos so the loops vectorize. One 32-bit word per sample:
/// for each pair, u₁ = (24 bits + ½)·2⁻²⁴ ∈ (0, 1) gives r = √(−2 ln u₁); the other word gives an
/// angle t ∈ [−π/4, π/4) (24 bits) and a quarter turn k (2 bits), and (cos, sin)(t + kπ/2) is a
/// uniform point on the circle. Relative error of log/sin/cos ≤ 2e-7; the radius is capped at
/// √(2·25·ln 2) ≈ 5.89 (the tail beyond has mass 4e-9 and is folded into it). These floating-point
/// samples are for model-sized noise; integer aggregates use discrete_gaussian (Mironov 2012).
#pragma once

#include "fedpp/error.hpp"
#include "fedpp/privacy/secure_rng.hpp"

#include <array>
#include <bit>
#include <cmath>
#include <concepts>
#include <cstdint>
#include <span>
#include <string>

namespace fedpp::privacy {

namespace detail {

inline constexpr std::size_t gaussian_block = 256;

/// ln(x) for x in (0, 1], float, branch-free: x = m·2^e with m in [√½, √2), ln m = 2 atanh(s),
/// s = (m − 1)/(m + 1), by its odd series to s⁹.
inline float fast_log(float x) noexcept {
  std::uint32_t bits = std::bit_cast<std::uint32_t>(x);
  // shift so that m lands in [√½, √2): add (1 − √½) of an exponent step before extracting
  const std::uint32_t adj = bits - 0x3f3504f3u;
  const auto e = static_cast<float>(static_cast<std::int32_t>(adj) >> 23);
  bits = (adj & 0x007fffffu) + 0x3f3504f3u;
  const float m = std::bit_cast<float>(bits);
  const float s = (m - 1.0f) / (m + 1.0f), s2 = s * s;
  const float p = 2.0f + s2 * (0.6666667f + s2 * (0.4f + s2 * (0.2857143f + s2 * 0.2222222f)));
  return e * 0.69314718f + s * p;
}

/// Fills out[0..256) with standard normals from 256 words.
inline void box_muller_block(const std::uint32_t* w, float* out) noexcept {
  for (std::size_t i = 0; i < gaussian_block / 2; ++i) {
    const std::uint32_t a = w[2 * i], b = w[2 * i + 1];
    const float u1 = (static_cast<float>(a >> 8) + 0.5f) * 0x1.0p-24f;
    const float r = std::sqrt(-2.0f * fast_log(u1));
    const float t = (static_cast<float>(b >> 8) * 0x1.0p-24f - 0.5f) * 1.5707963f; // [−π/4, π/4)
    const float t2 = t * t;
    const float c = 1.0f + t2 * (-0.5f + t2 * (0.041666668f + t2 * (-0.0013888889f + t2 * 2.4801587e-5f)));
    const float s =
        t * (1.0f + t2 * (-0.16666667f + t2 * (0.008333334f + t2 * (-1.984127e-4f + t2 * 2.7557319e-6f))));
    // quarter turn k: (c, s) → (c, s), (−s, c), (−c, −s), (s, −c)
    const std::uint32_t k = b & 3u;
    const bool swap = (k & 1u) != 0;
    const float x = swap ? s : c, y = swap ? c : s;
    const float sx = ((k == 1u) | (k == 2u)) ? -1.0f : 1.0f;
    const float sy = (k >= 2u) ? -1.0f : 1.0f;
    out[2 * i] = r * x * sx;
    out[2 * i + 1] = r * y * sy;
  }
}

} // namespace detail

/// Writes N(0, stddev²) samples into `out`.
template <std::floating_point T>
void fill_gaussian(secure_rng& gen, std::span<T> out, double stddev = 1.0) {
  if (!(stddev >= 0) || !std::isfinite(stddev))
    throw invalid_config("fill_gaussian: stddev = " + std::to_string(stddev) + " must be finite and >= 0");
  alignas(64) std::array<std::uint32_t, detail::gaussian_block> words;
  alignas(64) std::array<float, detail::gaussian_block> z;
  const auto sd = static_cast<float>(stddev);
  for (std::size_t i = 0; i < out.size(); i += detail::gaussian_block) {
    gen.fill(words);
    detail::box_muller_block(words.data(), z.data());
    const std::size_t n = std::min(detail::gaussian_block, out.size() - i);
    for (std::size_t j = 0; j < n; ++j) out[i + j] = static_cast<T>(sd * z[j]);
  }
}

/// Adds N(0, stddev²) noise to every element of `x` in place (the Gaussian mechanism).
template <std::floating_point T>
void add_gaussian_noise(secure_rng& gen, std::span<T> x, double stddev) {
  if (!(stddev >= 0) || !std::isfinite(stddev))
    throw invalid_config("add_gaussian_noise: stddev = " + std::to_string(stddev) +
                         " must be finite and >= 0");
  alignas(64) std::array<std::uint32_t, detail::gaussian_block> words;
  alignas(64) std::array<float, detail::gaussian_block> z;
  const auto sd = static_cast<float>(stddev);
  for (std::size_t i = 0; i < x.size(); i += detail::gaussian_block) {
    gen.fill(words);
    detail::box_muller_block(words.data(), z.data());
    const std::size_t n = std::min(detail::gaussian_block, x.size() - i);
    for (std::size_t j = 0; j < n; ++j) x[i + j] += static_cast<T>(sd * z[j]);
  }
}

} // namespace fedpp::privacy
