/// \file paillier_encoding.hpp
/// Fixed-point encoding of signed reals for Paillier, compatible with python-paillier's
/// EncodedNumber: a real x is the pair (mantissa mod n, exponent) with x ≈ mantissa · 16^exponent;
/// residues in [0, n/3 − 1] are non-negative, in [n − (n/3 − 1), n) negative, in between an
/// overflow. Given the same key, the same x and the same options, encode() gives the integers
/// python-paillier's EncodedNumber.encode gives, and encrypted_number's operations follow
/// EncryptedNumber's (exponent alignment by multiplying by 16^Δ). docs/vertical.md has the details.
#pragma once

#include "fedpp/error.hpp"
#include "fedpp/parallel/thread_pool.hpp"
#include "fedpp/vertical/bigint.hpp"
#include "fedpp/vertical/paillier.hpp"

#include <gmp.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace fedpp::vertical {

/// The base of the exponents (python-paillier's EncodedNumber.BASE).
inline constexpr int paillier_encoding_base = 16;

/// A decoded value that lies in the overflow band (n/3, 2n/3), or does not fit a double.
class paillier_overflow : public fedpp::error {
public:
  using fedpp::error::error;
};

/// x ≈ signed(encoding) · 16^exponent, encoding ∈ [0, n).
struct encoded_number {
  bigint encoding;
  int exponent = 0;
  friend bool operator==(const encoded_number&, const encoded_number&) = default;
};

/// An encrypted encoded_number: Enc(encoding) with its (public) exponent.
struct encrypted_number {
  paillier_ciphertext ciphertext;
  int exponent = 0;
  friend bool operator==(const encrypted_number&, const encrypted_number&) = default;
};

namespace detail {

/// Round-half-to-even of |n| / 2^shift, sign kept (shift > 0).
inline bigint round_half_even_shift(const bigint& n, std::size_t shift) {
  bigint a;
  mpz_abs(a.get(), n.get());
  bigint q;
  mpz_fdiv_q_2exp(q.get(), a.get(), shift);
  bigint r;
  mpz_fdiv_r_2exp(r.get(), a.get(), shift);
  const bigint half = bigint::pow2(shift - 1);
  if (r > half || (r == half && q.is_odd())) mpz_add_ui(q.get(), q.get(), 1);
  if (n.sign() < 0) mpz_neg(q.get(), q.get());
  return q;
}

/// The double nearest to n · 2^e (ties to even, subnormals included); throws paillier_overflow
/// when it exceeds the largest double. Python's int/int true division rounds the same way.
inline double to_double_exact(const bigint& n, long e) {
  if (n.sign() == 0) return 0.0;
  const long bits = static_cast<long>(n.bit_length());
  const long lead = bits - 1 + e; // exponent of the leading bit
  long prec = 53;
  if (lead < -1022) prec = 53 - (-1022 - lead);
  double out = 0.0;
  if (bits <= prec) {
    out = std::ldexp(mpz_get_d(n.get()), static_cast<int>(std::max(e, -2000L)));
  } else {
    const long shift = bits - std::max(prec, 0L);
    const bigint q = round_half_even_shift(n, static_cast<std::size_t>(shift));
    const long exp2 = e + shift;
    if (exp2 > 2000) throw paillier_overflow("paillier: decoded value too large for a double");
    out = std::ldexp(mpz_get_d(q.get()), static_cast<int>(std::max(exp2, -2000L)));
  }
  if (!std::isfinite(out)) throw paillier_overflow("paillier: decoded value too large for a double");
  return out;
}

inline void check_exponent_range(long e) {
  if (e < -100000 || e > 100000)
    throw invalid_config("paillier encoding: exponent " + std::to_string(e) + " outside [-100000, 100000]");
}

/// signed mantissa · 16^(−exponent) as an exact integer (round half to even), x = m·2^k.
inline bigint scaled_integer(const bigint& m, long k, int exponent) {
  const long s = k - 4L * exponent;
  bigint out = m;
  if (s >= 0) {
    mpz_mul_2exp(out.get(), m.get(), static_cast<mp_bitcnt_t>(s));
    return out;
  }
  return round_half_even_shift(m, static_cast<std::size_t>(-s));
}

inline encoded_number finish_encoding(const paillier_public_key& pk, const bigint& int_rep, int exponent) {
  bigint a;
  mpz_abs(a.get(), int_rep.get());
  if (a > pk.max_int())
    throw invalid_config("paillier encoding: the integer " + std::to_string(int_rep.bit_length()) +
                         "-bit representation exceeds max_int = n/3 - 1 (exponent " +
                         std::to_string(exponent) + ")");
  return encoded_number{int_rep.mod(pk.n()), exponent};
}

} // namespace detail

/// Encodes a finite double as python-paillier's EncodedNumber.encode(public_key, x, precision,
/// max_exponent) does: exponent = floor(log(precision)/log(16)) when a precision is given, else
/// floor((frexp(x).exp − 53)/4) (every bit of the double kept); then min(exponent, max_exponent);
/// mantissa = round(x · 16^(−exponent)) exactly, ties to even. Throws invalid_config for a
/// non-finite x or precision ≤ 0, or when |mantissa| > n/3 − 1.
[[nodiscard]] inline encoded_number encode(const paillier_public_key& pk, double x,
                                           std::optional<double> precision = std::nullopt,
                                           std::optional<int> max_exponent = std::nullopt) {
  if (!std::isfinite(x)) throw invalid_config("paillier encoding: the value is not finite");
  long exponent = 0;
  int e2 = 0;
  const double f = std::frexp(x, &e2);
  if (precision) {
    if (!std::isfinite(*precision) || *precision <= 0)
      throw invalid_config("paillier encoding: precision must be finite and > 0");
    exponent = static_cast<long>(std::floor(std::log(*precision) / std::log(16.0)));
  } else {
    const long lsb = static_cast<long>(e2) - 53;
    exponent = lsb >= 0 ? lsb / 4 : -((-lsb + 3) / 4); // floor(lsb / 4)
  }
  if (max_exponent && *max_exponent < exponent) exponent = *max_exponent;
  detail::check_exponent_range(exponent);
  // x = m · 2^(e2 − 53) with m an integer of at most 53 bits.
  const double m_d = std::ldexp(f, 53);
  const bigint m = bigint(static_cast<std::int64_t>(m_d));
  const bigint int_rep = detail::scaled_integer(m, static_cast<long>(e2) - 53, static_cast<int>(exponent));
  return detail::finish_encoding(pk, int_rep, static_cast<int>(exponent));
}

/// Encodes an integer as python-paillier does for a Python int: exponent min(0, max_exponent),
/// mantissa value · 16^(−exponent). Throws invalid_config when |mantissa| > n/3 − 1.
[[nodiscard]] inline encoded_number encode_integer(const paillier_public_key& pk, const bigint& value,
                                                   std::optional<int> max_exponent = std::nullopt) {
  const int exponent = max_exponent && *max_exponent < 0 ? *max_exponent : 0;
  detail::check_exponent_range(exponent);
  return detail::finish_encoding(pk, detail::scaled_integer(value, 0, exponent), exponent);
}

/// The signed mantissa of an encoding: encoding if ≤ max_int, encoding − n if ≥ n − max_int.
/// Throws paillier_overflow in the band between, invalid_config for encoding ∉ [0, n).
[[nodiscard]] inline bigint signed_mantissa(const paillier_public_key& pk, const bigint& encoding) {
  if (encoding.sign() < 0 || encoding >= pk.n())
    throw invalid_config("paillier decoding: encoding not in [0, n)");
  if (encoding <= pk.max_int()) return encoding;
  if (encoding >= pk.n() - pk.max_int()) return encoding - pk.n();
  throw paillier_overflow("paillier decoding: overflow detected (the residue lies between n/3 and 2n/3)");
}

/// The double nearest to mantissa · 16^exponent (python-paillier's decode; ties to even).
[[nodiscard]] inline double decode(const paillier_public_key& pk, const encoded_number& e) {
  detail::check_exponent_range(e.exponent);
  return detail::to_double_exact(signed_mantissa(pk, e.encoding), 4L * e.exponent);
}

/// Encrypts an encoding with a fresh r.
[[nodiscard]] inline encrypted_number encrypt(const paillier_public_key& pk, const encoded_number& e,
                                              random_source& rng) {
  return encrypted_number{pk.encrypt(e.encoding, rng), e.exponent};
}
/// Encodes (default precision) and encrypts a double.
[[nodiscard]] inline encrypted_number encrypt(const paillier_public_key& pk, double x, random_source& rng) {
  return encrypt(pk, encode(pk, x), rng);
}
/// Encodes (default precision) and encrypts a double with the key holder's CRT obfuscator.
[[nodiscard]] inline encrypted_number encrypt(const paillier_private_key& sk, double x, random_source& rng) {
  const encoded_number e = encode(sk.public_key(), x);
  return encrypted_number{sk.public_key().encrypt_with_obfuscator(e.encoding, sk.obfuscator(rng)),
                          e.exponent};
}

/// Encodes and encrypts every value (randomness drawn in order first, exponentiations on `pool`).
/// `precision` as in encode (nullopt: every bit of each double).
[[nodiscard]] inline std::vector<encrypted_number> encrypt(const paillier_public_key& pk,
                                                           std::span<const double> xs, random_source& rng,
                                                           fedpp::parallel::thread_pool* pool = nullptr,
                                                           std::optional<double> precision = std::nullopt) {
  std::vector<bigint> ms(xs.size());
  std::vector<int> exps(xs.size());
  for (std::size_t i = 0; i < xs.size(); ++i) {
    auto e = encode(pk, xs[i], precision);
    ms[i] = std::move(e.encoding);
    exps[i] = e.exponent;
  }
  auto cs = pk.encrypt(ms, rng, pool);
  std::vector<encrypted_number> out(xs.size());
  for (std::size_t i = 0; i < xs.size(); ++i) out[i] = encrypted_number{std::move(cs[i]), exps[i]};
  return out;
}
/// The same with the key holder's CRT obfuscators (same distribution, about 3–4× faster).
[[nodiscard]] inline std::vector<encrypted_number> encrypt(const paillier_private_key& sk,
                                                           std::span<const double> xs, random_source& rng,
                                                           fedpp::parallel::thread_pool* pool = nullptr,
                                                           std::optional<double> precision = std::nullopt) {
  std::vector<bigint> ms(xs.size());
  std::vector<int> exps(xs.size());
  for (std::size_t i = 0; i < xs.size(); ++i) {
    auto e = encode(sk.public_key(), xs[i], precision);
    ms[i] = std::move(e.encoding);
    exps[i] = e.exponent;
  }
  auto cs = sk.encrypt(ms, rng, pool);
  std::vector<encrypted_number> out(xs.size());
  for (std::size_t i = 0; i < xs.size(); ++i) out[i] = encrypted_number{std::move(cs[i]), exps[i]};
  return out;
}

/// Decrypts and decodes. Throws malformed_message for a bad ciphertext, paillier_overflow for an
/// overflowed or too large result.
[[nodiscard]] inline double decrypt(const paillier_private_key& sk, const encrypted_number& c) {
  return decode(sk.public_key(), encoded_number{sk.decrypt(c.ciphertext), c.exponent});
}
/// Decrypts and decodes every value on `pool` (every ciphertext checked first).
[[nodiscard]] inline std::vector<double> decrypt(const paillier_private_key& sk,
                                                 std::span<const encrypted_number> cs,
                                                 fedpp::parallel::thread_pool* pool = nullptr) {
  std::vector<paillier_ciphertext> raw(cs.size());
  for (std::size_t i = 0; i < cs.size(); ++i) {
    detail::check_exponent_range(cs[i].exponent);
    raw[i] = cs[i].ciphertext;
  }
  const auto ms = sk.decrypt(raw, pool);
  std::vector<double> out(cs.size());
  for (std::size_t i = 0; i < cs.size(); ++i)
    out[i] = decode(sk.public_key(), encoded_number{ms[i], cs[i].exponent});
  return out;
}

/// The same value at a lower exponent: ciphertext^(16^(exponent − new_exponent)). Throws
/// invalid_config when new_exponent > exponent or 16^Δ ≥ n.
[[nodiscard]] inline encrypted_number decrease_exponent_to(const paillier_public_key& pk,
                                                           const encrypted_number& a, int new_exponent) {
  if (new_exponent > a.exponent)
    throw invalid_config("paillier: cannot increase the exponent from " + std::to_string(a.exponent) +
                         " to " + std::to_string(new_exponent));
  if (new_exponent == a.exponent) return a;
  const long diff = static_cast<long>(a.exponent) - new_exponent;
  if (static_cast<std::size_t>(4 * diff) >= pk.bits())
    throw invalid_config("paillier: 16^" + std::to_string(diff) + " is not below n");
  return encrypted_number{pk.multiply(a.ciphertext, bigint::pow2(static_cast<std::size_t>(4 * diff))),
                          new_exponent};
}

/// Enc(a + b): the operand with the larger exponent is first brought down to the other's.
[[nodiscard]] inline encrypted_number add(const paillier_public_key& pk, const encrypted_number& a,
                                          const encrypted_number& b) {
  if (a.exponent > b.exponent) return add(pk, decrease_exponent_to(pk, a, b.exponent), b);
  if (b.exponent > a.exponent) return add(pk, a, decrease_exponent_to(pk, b, a.exponent));
  return encrypted_number{pk.add(a.ciphertext, b.ciphertext), a.exponent};
}

/// Enc(a + x): x encoded with max_exponent = a's exponent (python-paillier's __add__ of a scalar).
[[nodiscard]] inline encrypted_number add(const paillier_public_key& pk, const encrypted_number& a,
                                          double x) {
  const encoded_number e = encode(pk, x, std::nullopt, a.exponent);
  const encrypted_number aligned = decrease_exponent_to(pk, a, e.exponent);
  return encrypted_number{pk.add_plain(aligned.ciphertext, signed_mantissa(pk, e.encoding)), e.exponent};
}

/// Enc(a · x): x encoded at full precision, exponents added (python-paillier's __mul__).
[[nodiscard]] inline encrypted_number multiply(const paillier_public_key& pk, const encrypted_number& a,
                                               double x) {
  const encoded_number e = encode(pk, x);
  return encrypted_number{pk.multiply(a.ciphertext, signed_mantissa(pk, e.encoding)),
                          a.exponent + e.exponent};
}

/// Enc(a · k) for an integer k (exponent unchanged).
[[nodiscard]] inline encrypted_number multiply(const paillier_public_key& pk, const encrypted_number& a,
                                               const bigint& k) {
  return encrypted_number{pk.multiply(a.ciphertext, k), a.exponent};
}

} // namespace fedpp::vertical
