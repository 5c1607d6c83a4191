/// \file shamir.hpp
/// Shamir t-of-n secret sharing (Shamir, "How to share a secret", CACM 1979) of 32-byte secrets
/// over the prime field GF(p), p = 2^61 − 1 (a Mersenne prime: reduction is a shift and an add).
///
/// A 32-byte secret is split into five field elements (bytes 0–6, 7–13, 14–20, 21–27 as 56-bit
/// little-endian integers, bytes 28–31 as a 32-bit one; all below p). Each element e_j gets its
/// own random polynomial f_j(X) = e_j + a_1 X + … + a_{t−1} X^{t−1}; the share for evaluation
/// point x ≠ 0 is (x, f_1(x), …, f_5(x)). Any t shares give f_j(0) by Lagrange interpolation,
/// f(0) = Σ_i y_i Π_{m≠i} x_m / (x_m − x_i); any t − 1 shares are independent of the secret.
/// Thresholds below 2 are refused (t = 1 makes every share equal to the secret).
#pragma once

#include "fedpp/error.hpp"
#include "fedpp/secagg/detail/sodium.hpp"
#include "fedpp/secagg/random_source.hpp"

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace fedpp::secagg {

/// The field modulus 2^61 − 1.
inline constexpr std::uint64_t shamir_prime = (std::uint64_t{1} << 61) - 1;
/// Field elements per 32-byte secret.
inline constexpr std::size_t shamir_words = 5;

/// One share: the evaluation point and the five polynomial values.
struct shamir_share {
  std::uint64_t x = 0;                         ///< evaluation point, 1 ≤ x < p
  std::array<std::uint64_t, shamir_words> y{}; ///< f_j(x), each < p
};

namespace detail {

__extension__ using u128 = unsigned __int128;

inline std::uint64_t fadd(std::uint64_t a, std::uint64_t b) noexcept {
  const auto s = a + b; // < 2^62, no wrap
  return s >= shamir_prime ? s - shamir_prime : s;
}
inline std::uint64_t fsub(std::uint64_t a, std::uint64_t b) noexcept {
  return a >= b ? a - b : a + shamir_prime - b;
}
inline std::uint64_t fmul(std::uint64_t a, std::uint64_t b) noexcept {
  const u128 p = static_cast<u128>(a) * b;
  const auto lo = static_cast<std::uint64_t>(p) & shamir_prime;
  const auto hi = static_cast<std::uint64_t>(p >> 61);
  return fadd(lo, hi);
}
inline std::uint64_t fpow(std::uint64_t a, std::uint64_t e) noexcept {
  std::uint64_t r = 1;
  while (e != 0) {
    if ((e & 1U) != 0) r = fmul(r, a);
    a = fmul(a, a);
    e >>= 1;
  }
  return r;
}
/// a^(p−2) = a^−1 (Fermat); a ≠ 0.
inline std::uint64_t finv(std::uint64_t a) noexcept { return fpow(a, shamir_prime - 2); }

inline std::uint64_t random_element(random_source& rng) {
  for (;;) {
    const auto v = rng.u64() & shamir_prime; // 61 bits; reject the one value ≥ p
    if (v < shamir_prime) return v;
  }
}

inline std::array<std::uint64_t, shamir_words> secret_to_words(const key32& s) noexcept {
  std::array<std::uint64_t, shamir_words> w{};
  for (std::size_t i = 0; i < 32; ++i) w[i / 7] |= std::to_integer<std::uint64_t>(s[i]) << (8 * (i % 7));
  return w;
}

/// Inverts every (non-zero) element of `v` in place with one field inversion (Montgomery's
/// trick: prefix products, one inverse, then the products unwound).
inline void batch_invert(std::span<std::uint64_t> v) {
  std::vector<std::uint64_t> prefix(v.size());
  std::uint64_t acc = 1;
  for (std::size_t i = 0; i < v.size(); ++i) {
    prefix[i] = acc;
    acc = fmul(acc, v[i]);
  }
  auto inv = finv(acc);
  for (std::size_t i = v.size(); i-- > 0;) {
    const auto vi = v[i];
    v[i] = fmul(inv, prefix[i]);
    inv = fmul(inv, vi);
  }
}

/// Lagrange interpolation through the points of `basis` (distinct), evaluated at any `at` that
/// is none of them (0 for the secret, another share's point for the consistency check):
/// f(at) = Σ_i y_i·λ_i(at), λ_i(at) = Π_{m≠i} (at − x_m)/(x_i − x_m) = P(at)/((at − x_i)·d_i) with
/// P(at) = Π_m (at − x_m) and d_i = Π_{m≠i} (x_i − x_m). The 1/d_i are computed once per basis
/// (O(t²)); each evaluation point then costs O(t) and one inversion, for all five words at once.
class lagrange_basis {
public:
  explicit lagrange_basis(std::span<const shamir_share> basis) : basis_(basis), inv_den_(basis.size(), 1) {
    for (std::size_t i = 0; i < basis.size(); ++i)
      for (std::size_t m = 0; m < basis.size(); ++m)
        if (m != i) inv_den_[i] = fmul(inv_den_[i], fsub(basis[i].x, basis[m].x));
    batch_invert(inv_den_);
  }
  /// The five words of the interpolated polynomials at `at`.
  [[nodiscard]] std::array<std::uint64_t, shamir_words> evaluate(std::uint64_t at) {
    diff_.resize(basis_.size());
    std::uint64_t product = 1;
    for (std::size_t i = 0; i < basis_.size(); ++i) {
      diff_[i] = fsub(at, basis_[i].x);
      product = fmul(product, diff_[i]);
    }
    batch_invert(diff_);
    std::array<std::uint64_t, shamir_words> out{};
    for (std::size_t i = 0; i < basis_.size(); ++i) {
      const auto weight = fmul(product, fmul(diff_[i], inv_den_[i]));
      for (std::size_t j = 0; j < shamir_words; ++j) out[j] = fadd(out[j], fmul(basis_[i].y[j], weight));
    }
    return out;
  }

private:
  std::span<const shamir_share> basis_;
  std::vector<std::uint64_t> inv_den_;
  std::vector<std::uint64_t> diff_;
};

} // namespace detail

/// The smallest threshold either function accepts: with t = 1 the polynomial is the constant
/// secret, so every single share is the secret itself.
inline constexpr std::size_t shamir_min_threshold = 2;

/// Splits `secret` into one share per evaluation point in `xs` (distinct, in [1, p)); any
/// `threshold` of them reconstruct it. Throws invalid_config for a threshold outside
/// [2, xs.size()] or bad points.
[[nodiscard]] inline std::vector<shamir_share> shamir_split(const key32& secret,
                                                            std::size_t threshold,
                                                            std::span<const std::uint64_t> xs,
                                                            random_source& rng) {
  if (threshold < shamir_min_threshold || threshold > xs.size())
    throw invalid_config("shamir_split: threshold " + std::to_string(threshold) + " is outside [2, " +
                         std::to_string(xs.size()) + " shares]" +
                         (threshold < shamir_min_threshold ? " (with t = 1 every share is the secret)" : ""));
  for (std::size_t i = 0; i < xs.size(); ++i) {
    if (xs[i] == 0 || xs[i] >= shamir_prime)
      throw invalid_config("shamir_split: evaluation point " + std::to_string(xs[i]) +
                           " is outside [1, 2^61 − 1)");
    for (std::size_t m = 0; m < i; ++m)
      if (xs[m] == xs[i])
        throw invalid_config("shamir_split: evaluation point " + std::to_string(xs[i]) + " appears twice");
  }
  const auto words = detail::secret_to_words(secret);
  std::vector<std::uint64_t> coeff(threshold);
  std::vector<shamir_share> out(xs.size());
  for (std::size_t i = 0; i < xs.size(); ++i) out[i].x = xs[i];
  for (std::size_t j = 0; j < shamir_words; ++j) {
    coeff[0] = words[j];
    for (std::size_t k = 1; k < threshold; ++k) coeff[k] = detail::random_element(rng);
    for (std::size_t i = 0; i < xs.size(); ++i) { // Horner
      std::uint64_t y = 0;
      for (std::size_t k = threshold; k-- > 0;) y = detail::fadd(detail::fmul(y, xs[i]), coeff[k]);
      out[i].y[j] = y;
    }
  }
  detail::wipe(coeff.data(), coeff.size() * sizeof(std::uint64_t));
  return out;
}

/// Reconstructs a secret from at least `threshold` shares. Refuses (invalid_config) a threshold
/// below 2 and fewer than `threshold` shares; throws malformed_message when points repeat,
/// values are out of the field, or the shares beyond the first `threshold` do not lie on the same
/// polynomials (a forged or corrupted share). Messages name counts and points, never share values.
[[nodiscard]] inline key32 shamir_reconstruct(std::span<const shamir_share> shares,
                                                      std::size_t threshold) {
  if (threshold < shamir_min_threshold)
    throw invalid_config("shamir_reconstruct: threshold " + std::to_string(threshold) +
                         " is below 2 (with t = 1 every share is the secret)");
  if (shares.size() < threshold)
    throw invalid_config("shamir_reconstruct: " + std::to_string(shares.size()) +
                         " shares are fewer than the threshold " + std::to_string(threshold) +
                         "; refusing to reconstruct");
  for (std::size_t i = 0; i < shares.size(); ++i) {
    if (shares[i].x == 0 || shares[i].x >= shamir_prime)
      throw malformed_message("shamir_reconstruct: evaluation point " + std::to_string(shares[i].x) +
                              " is outside [1, 2^61 − 1)");
    for (const auto y : shares[i].y)
      if (y >= shamir_prime)
        throw malformed_message("shamir_reconstruct: share at point " + std::to_string(shares[i].x) +
                                " holds a value outside the field");
    for (std::size_t m = 0; m < i; ++m)
      if (shares[m].x == shares[i].x)
        throw malformed_message("shamir_reconstruct: evaluation point " + std::to_string(shares[i].x) +
                                " appears twice");
  }
  detail::lagrange_basis basis(shares.first(threshold));
  auto words = basis.evaluate(0);
  for (std::size_t i = threshold; i < shares.size(); ++i)
    if (basis.evaluate(shares[i].x) != shares[i].y) {
      detail::wipe(words.data(), sizeof(words));
      throw malformed_message("shamir_reconstruct: the share at point " + std::to_string(shares[i].x) +
                              " is inconsistent with the first " + std::to_string(threshold) + " shares");
    }
  // Each word holds 7 bytes (the last 4): a larger value means inconsistent shares.
  for (std::size_t j = 0; j < shamir_words; ++j)
    if (words[j] >> (j + 1 < shamir_words ? 56 : 32) != 0)
      throw malformed_message(
          "shamir_reconstruct: the shares interpolate to a value that is not a 32-byte secret "
          "(forged or corrupted shares)");
  key32 out{};
  for (std::size_t i = 0; i < 32; ++i)
    out[i] = static_cast<std::byte>((words[i / 7] >> (8 * (i % 7))) & 0xffU);
  detail::wipe(words.data(), sizeof(words));
  return out;
}

} // namespace fedpp::secagg
