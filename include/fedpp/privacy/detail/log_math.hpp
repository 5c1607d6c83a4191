/// \file log_math.hpp
/// Log-domain arithmetic for the accountants: log(e^a + e^b), log(e^a − e^b), log erfc, log |binom|.
#pragma once

#include <cmath>
#include <limits>
#include <numbers>

namespace fedpp::privacy::detail {

inline constexpr double neg_inf = -std::numeric_limits<double>::infinity();

/// log(e^a + e^b) without overflow.
inline double log_add(double a, double b) noexcept {
  if (a == neg_inf) return b;
  if (b == neg_inf) return a;
  const double hi = a > b ? a : b, lo = a > b ? b : a;
  return hi + std::log1p(std::exp(lo - hi));
}

/// log(e^a − e^b) for a ≥ b (−inf when equal).
inline double log_sub(double a, double b) noexcept {
  if (b == neg_inf) return a;
  if (a <= b) return neg_inf;
  return a + std::log1p(-std::exp(b - a));
}

/// log erfc(x), accurate where erfc underflows: for x > 25 the asymptotic series
/// erfc(x) ≈ e^{−x²}/(x√π) · (1 − 1/(2x²) + 3/(4x⁴) − 15/(8x⁶)).
inline double log_erfc(double x) noexcept {
  if (x < 25) return std::log(std::erfc(x));
  const double r = 1 / (x * x);
  return -x * x - std::log(x) - 0.5 * std::log(std::numbers::pi) +
         std::log1p(-0.5 * r + 0.75 * r * r - 1.875 * r * r * r);
}

/// log |binom(a, k)| for real a and integer k ≥ 0, via lgamma (sign handled by the caller).
inline double log_abs_binom(double a, double k) noexcept {
  // binom(a, k) = Γ(a+1) / (Γ(k+1) Γ(a−k+1)); lgamma returns log |Γ|.
  return std::lgamma(a + 1) - std::lgamma(k + 1) - std::lgamma(a - k + 1);
}

/// Sign of binom(a, k) for real a > 0, integer k ≥ 0: negative when k > a and ⌈k − a⌉ ... the
/// product Π_{i<k} (a − i) has (number of i < k with i > a) negative factors.
inline int binom_sign(double a, double k) noexcept {
  if (k <= a + 1 || a == std::floor(a)) return 1;
  // factors (a − i) for i = ⌈a⌉ .. k−1 are negative
  const double negatives = k - std::ceil(a);
  return static_cast<long long>(negatives) % 2 == 0 ? 1 : -1;
}

} // namespace fedpp::privacy::detail
