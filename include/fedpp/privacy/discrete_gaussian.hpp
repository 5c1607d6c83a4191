/// \file discrete_gaussian.hpp
/// Exact discrete Gaussian sampler N_Z(0, σ²), P[X = x] ∝ exp(−x²/(2σ²)) on the integers, by
/// Canonne, Kamath, Steinke 2020 ("The Discrete Gaussian for Differential Privacy", Algorithms 1–3):
/// rejection from a discrete Laplace of scale t = ⌊σ⌋ + 1 with acceptance
/// Bernoulli(exp(−(|Y| − σ²/t)²/(2σ²))), every Bernoulli(exp(−γ)) drawn exactly with integer
/// arithmetic on rationals. No floating point touches the output, which closes the attack on
/// floating-point samplers (Mironov 2012); use it for integer / fixed-point aggregates summed under
/// secure aggregation (distributed discrete Gaussian, Kairouz, Liu, Steinke 2021).
#pragma once

#include "fedpp/error.hpp"
#include "fedpp/privacy/secure_rng.hpp"

#include <cmath>
#include <cstdint>
#include <span>
#include <string>

namespace fedpp::privacy {

namespace detail {
__extension__ typedef unsigned __int128 u128; // exact products of the rational acceptance test

/// Uniform integer in [0, bound), bound ≥ 1, by rejection (no modulo bias).
template <class G>
u128 uniform_below(G& gen, u128 bound) {
  if (bound <= 1) return 0;
  u128 mask = bound - 1;
  for (int s = 1; s < 128; s <<= 1) mask |= mask >> s;
  for (;;) {
    u128 v = (static_cast<u128>(gen.next_u64()) << 64) | gen.next_u64();
    v &= mask;
    if (v < bound) return v;
  }
}

/// Bernoulli(n/d), 0 ≤ n ≤ d.
template <class G>
bool bernoulli(G& gen, u128 n, u128 d) {
  return uniform_below(gen, d) < n;
}

/// Bernoulli(exp(−n/d)) exactly (CKS 2020, Algorithm 1).
template <class G>
bool bernoulli_exp(G& gen, u128 n, u128 d) {
  while (n > d) { // γ > 1: exp(−γ) = exp(−1)^⌊γ⌋ · exp(−frac)
    if (!bernoulli_exp(gen, 1, 1)) return false;
    n -= d;
  }
  u128 k = 1;
  for (;;) {
    if (!bernoulli(gen, n, d * k)) break;
    ++k;
  }
  return (k & 1) == 1;
}

/// Discrete Laplace with scale t: P[Y = y] ∝ exp(−|y|/t) (CKS 2020, Algorithm 2 with s = 1).
template <class G>
std::int64_t discrete_laplace(G& gen, std::uint64_t t) {
  for (;;) {
    const auto u = static_cast<std::uint64_t>(uniform_below(gen, t));
    if (!bernoulli_exp(gen, u, t)) continue;
    std::uint64_t v = 0;
    while (bernoulli_exp(gen, 1, 1)) ++v;
    const std::uint64_t x = u + t * v;
    const bool negative = (gen() & 1u) != 0;
    if (negative && x == 0) continue;
    return negative ? -static_cast<std::int64_t>(x) : static_cast<std::int64_t>(x);
  }
}

} // namespace detail

/// Samples N_Z(0, σ²) with σ² = numerator/denominator exactly.
class discrete_gaussian {
public:
  /// σ² as the exact rational num/den; throws invalid_config unless num ≥ 1, 1 ≤ den ≤ 2^20 and
  /// σ ≤ 10^6 (the bounds keep the acceptance test inside 128-bit integers).
  discrete_gaussian(std::uint64_t variance_num, std::uint64_t variance_den)
      : num_(variance_num), den_(variance_den) {
    if (num_ == 0 || den_ == 0 || den_ > (1u << 20) ||
        static_cast<double>(num_) / static_cast<double>(den_) > 1e12)
      throw invalid_config("discrete_gaussian: variance " + std::to_string(num_) + "/" +
                           std::to_string(den_) +
                           " must be positive with denominator <= 2^20 and sigma <= 1e6");
    t_ = static_cast<std::uint64_t>(
             std::floor(std::sqrt(static_cast<double>(num_) / static_cast<double>(den_)))) +
         1;
  }

  /// σ² rounded to a multiple of 2⁻²⁰.
  explicit discrete_gaussian(double sigma) : discrete_gaussian(rational(sigma), std::uint64_t{1} << 20) {}

  /// One sample.
  template <class G>
  std::int64_t operator()(G& gen) const {
    using detail::u128;
    for (;;) {
      const std::int64_t y = detail::discrete_laplace(gen, t_);
      const auto ay = static_cast<u128>(y < 0 ? -y : y);
      // γ = (|y| − σ²/t)² / (2σ²) = (|y|·d·t − n)² / (2·n·d·t²)
      const u128 a = ay * den_ * t_, n = num_;
      const u128 diff = a > n ? a - n : n - a;
      const u128 gd = 2 * n * den_ * static_cast<u128>(t_) * t_;
      if (detail::bernoulli_exp(gen, diff * diff, gd)) return y;
    }
  }

  /// Adds one sample to each element of `x` (integer aggregate).
  template <class G, std::integral I>
  void add_noise(G& gen, std::span<I> x) const {
    for (auto& v : x) v = static_cast<I>(v + static_cast<I>((*this)(gen)));
  }

  /// σ² as a double.
  [[nodiscard]] double variance() const noexcept {
    return static_cast<double>(num_) / static_cast<double>(den_);
  }

private:
  static std::uint64_t rational(double sigma) {
    if (!(sigma > 0) || !(sigma <= 1e6))
      throw invalid_config("discrete_gaussian: sigma = " + std::to_string(sigma) + " must be in (0, 1e6]");
    return static_cast<std::uint64_t>(std::llround(sigma * sigma * static_cast<double>(1u << 20)));
  }
  std::uint64_t num_, den_, t_;
};

} // namespace fedpp::privacy
