/// \file paillier.hpp
/// Paillier's additively homomorphic encryption (Paillier 1999) on GMP, with g = n + 1: key
/// generation, encryption, CRT decryption, homomorphic addition, plaintext multiplication,
/// re-randomisation, batched and threaded operations, and the keys' and ciphertexts' byte codecs
/// with validation. Opt-in component fedpp::paillier (GMP + libsodium); fixed-point reals are in
/// paillier_encoding.hpp, several values per plaintext in paillier_packing.hpp, the wire messages
/// in paillier_wire.hpp. docs/vertical.md describes the conventions and the threat model.
///
/// The scheme (n = pq, n² the ciphertext modulus, g = n + 1):
///   Enc(m; r) = g^m · r^n mod n² = (1 + m·n) · r^n mod n²,  m ∈ Z_n, r ∈ Z*_n
///   Dec(c)    = L(c^λ mod n²) · μ mod n with L(x) = (x − 1)/n, computed here by the CRT of §7:
///               m_p = L_p(c^(p−1) mod p²) · h_p mod p, h_p = L_p(g^(p−1) mod p²)^(−1) mod p,
///               likewise m_q, and m = m_q + q · ((m_p − m_q) · q^(−1) mod p)
///   Enc(a)·Enc(b) = Enc(a + b),  Enc(a)^k = Enc(k·a),  c · r'^n = a fresh-looking Enc(a).
/// Given p, q and r these are the textbook ciphertexts (python-paillier's raw_encrypt with
/// r_value = r gives the same integers), so keys and ciphertexts of other g = n + 1
/// implementations interoperate.
///
/// Constant time: every exponentiation with a secret exponent or base (r^n, the CRT decryption,
/// the key holder's obfuscators, plaintext multiplication by a scalar) uses mpz_powm_sec.
#pragma once

#include "fedpp/error.hpp"
#include "fedpp/parallel/thread_pool.hpp"
#include "fedpp/secagg/random_source.hpp"
#include "fedpp/vertical/bigint.hpp"

#include <gmp.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace fedpp::vertical {

/// Cryptographic randomness (libsodium's randombytes_buf, or a reproducible ChaCha20 stream for
/// tests): the same type as fedpp::secagg's.
using random_source = fedpp::secagg::random_source;

/// Smallest modulus a key may have (tiny keys are for hand-checked examples: below 2048 bits a
/// key is for tests only; the wire decoders refuse keys below 2048 bits unless told otherwise).
inline constexpr std::size_t paillier_min_key_bits = 8;
/// Smallest modulus generate_paillier_keypair makes.
inline constexpr std::size_t paillier_min_generated_bits = 256;
/// Largest modulus accepted (decoders refuse larger keys before allocating).
inline constexpr std::size_t paillier_max_key_bits = 8192;
/// Miller–Rabin rounds of mpz_probab_prime_p in key generation and key checks (after GMP's
/// trial division and Baillie–PSW; GMP recommends 15–50).
inline constexpr int paillier_prime_reps = 40;

/// A Paillier ciphertext: an integer in [1, n²) coprime to n. It does not know its key: use it
/// with the key that made it (decoders check the range and coprimality for their key).
struct paillier_ciphertext {
  bigint value;
  friend bool operator==(const paillier_ciphertext&, const paillier_ciphertext&) = default;
};

namespace detail {

/// Uniform integer in [0, bound) from `rng` (rejection sampling on bit_length(bound) bits).
inline bigint uniform_below(const bigint& bound, random_source& rng) {
  const std::size_t bits = bound.bit_length();
  const std::size_t bytes = (bits + 7) / 8;
  std::vector<std::byte> buf(bytes);
  bigint x;
  for (;;) {
    rng.fill(buf);
    if (bits % 8 != 0) buf.back() &= static_cast<std::byte>((1U << (bits % 8)) - 1U);
    x = bigint::from_bytes_le(buf);
    if (x < bound) break;
  }
  sodium_memzero(buf.data(), buf.size());
  return x;
}

/// Uniform unit of Z*_m (gcd(x, m) = 1, x ≥ 1).
inline bigint uniform_unit(const bigint& m, random_source& rng) {
  bigint x;
  bigint g;
  for (;;) {
    x = uniform_below(m, rng);
    if (x.sign() == 0) continue;
    mpz_gcd(g.get(), x.get(), m.get());
    if (mpz_cmp_ui(g.get(), 1) == 0) return x;
  }
}

/// base^exp mod m with mpz_powm_sec (exp > 0, m odd), or 1 for exp = 0.
inline void powm_sec(bigint& out, const bigint& base, const bigint& exp, const bigint& m) {
  if (exp.sign() == 0) {
    mpz_set_ui(out.get(), 1);
    return;
  }
  mpz_powm_sec(out.get(), base.get(), exp.get(), m.get());
}

/// Runs body(i) for i in [0, n) on `pool` (blocks of contiguous indices) or serially.
template <class Body>
void for_each_index(fedpp::parallel::thread_pool* pool, std::size_t n, Body&& body) {
  if (pool == nullptr || pool->size() <= 1 || n < 2) {
    for (std::size_t i = 0; i < n; ++i) body(i);
    return;
  }
  const std::size_t tasks = std::min(n, pool->size() * 4);
  pool->run(tasks, [&](std::size_t t) {
    const std::size_t begin = n * t / tasks;
    const std::size_t end = n * (t + 1) / tasks;
    for (std::size_t i = begin; i < end; ++i) body(i);
  });
}

} // namespace detail

/// The public key: the modulus n (g = n + 1 is implied). Cheap to copy relative to the
/// operations (two numbers).
class paillier_public_key {
public:
  /// The key of modulus `n`. Throws invalid_config unless n is odd, has between
  /// paillier_min_key_bits and paillier_max_key_bits bits, and is not a perfect square.
  explicit paillier_public_key(bigint n) : n_(std::move(n)) {
    const std::size_t bits = n_.bit_length();
    if (n_.sign() <= 0 || !n_.is_odd() || bits < paillier_min_key_bits || bits > paillier_max_key_bits)
      throw invalid_config("paillier_public_key: n must be odd with " +
                           std::to_string(paillier_min_key_bits) + ".." +
                           std::to_string(paillier_max_key_bits) + " bits; it has " + std::to_string(bits) +
                           " bits and is " + (n_.is_odd() ? "odd" : "even"));
    if (mpz_perfect_square_p(n_.get()) != 0)
      throw invalid_config("paillier_public_key: n is a perfect square (p = q)");
    mpz_mul(n2_.get(), n_.get(), n_.get());
    mpz_tdiv_q_ui(max_int_.get(), n_.get(), 3);
    mpz_sub_ui(max_int_.get(), max_int_.get(), 1);
  }

  /// The modulus n.
  [[nodiscard]] const bigint& n() const noexcept { return n_; }
  /// n², the ciphertext modulus.
  [[nodiscard]] const bigint& n_squared() const noexcept { return n2_; }
  /// g = n + 1.
  [[nodiscard]] bigint g() const { return n_ + bigint(1); }
  /// Bits of n (the key size).
  [[nodiscard]] std::size_t bits() const noexcept { return n_.bit_length(); }
  /// Bytes of one ciphertext on the wire: ⌈bits(n²)/8⌉.
  [[nodiscard]] std::size_t ciphertext_bytes() const noexcept { return (n2_.bit_length() + 7) / 8; }
  /// Largest magnitude of a signed plaintext: n/3 − 1 (python-paillier's max_int). Residues in
  /// [0, max_int] are non-negative, in [n − max_int, n) negative, in between: overflow.
  [[nodiscard]] const bigint& max_int() const noexcept { return max_int_; }

  friend bool operator==(const paillier_public_key& a, const paillier_public_key& b) noexcept {
    return a.n_ == b.n_;
  }

  /// The plaintext residue of a signed integer m, |m| < n: m mod n. Throws invalid_config otherwise.
  [[nodiscard]] bigint to_residue(const bigint& m) const {
    bigint a;
    mpz_abs(a.get(), m.get());
    if (a >= n_)
      throw invalid_config("paillier: plaintext of " + std::to_string(m.bit_length()) +
                           " bits is not below n (" + std::to_string(bits()) + " bits)");
    return m.mod(n_);
  }

  /// A uniform r in Z*_n (r ≥ 1, gcd(r, n) = 1).
  [[nodiscard]] bigint random_r(random_source& rng) const { return detail::uniform_unit(n_, rng); }

  /// The obfuscator r^n mod n² for a given r ∈ Z*_n (checked).
  [[nodiscard]] bigint obfuscator_for(const bigint& r) const {
    check_r(r);
    bigint out;
    detail::powm_sec(out, r, n_, n2_);
    return out;
  }

  /// A fresh obfuscator r^n mod n² for a uniform r (one exponentiation mod n²).
  [[nodiscard]] bigint obfuscator(random_source& rng) const { return obfuscator_for(random_r(rng)); }

  /// The unobfuscated (deterministic!) ciphertext 1 + m·n mod n² of m (|m| < n). Never send it:
  /// multiply by an obfuscator first (encrypt does).
  [[nodiscard]] bigint nude(const bigint& m) const {
    const bigint res = to_residue(m);
    bigint c;
    mpz_mul(c.get(), res.get(), n_.get());
    mpz_add_ui(c.get(), c.get(), 1);
    mpz_mod(c.get(), c.get(), n2_.get());
    return c;
  }

  /// Enc(m; r) with a given r ∈ Z*_n: the textbook ciphertext (1 + m·n) · r^n mod n².
  [[nodiscard]] paillier_ciphertext encrypt_with_r(const bigint& m, const bigint& r) const {
    return encrypt_with_obfuscator(m, obfuscator_for(r));
  }

  /// Enc(m) with a precomputed obfuscator r^n mod n² (use each obfuscator once only). The
  /// obfuscator is checked to lie in [1, n²) and be coprime to n (not that it is an n-th residue).
  [[nodiscard]] paillier_ciphertext encrypt_with_obfuscator(const bigint& m, const bigint& obfuscator) const {
    check_value(obfuscator, "obfuscator");
    paillier_ciphertext c{nude(m)};
    mpz_mul(c.value.get(), c.value.get(), obfuscator.get());
    mpz_mod(c.value.get(), c.value.get(), n2_.get());
    return c;
  }

  /// Enc(m) with a fresh uniform r (|m| < n; negative m encrypts m mod n).
  [[nodiscard]] paillier_ciphertext encrypt(const bigint& m, random_source& rng) const {
    return encrypt_with_obfuscator(m, obfuscator(rng));
  }

  /// Encrypts every value of `ms` with fresh r's: the r's are drawn from `rng` first, in order
  /// (so the result does not depend on the pool), then the exponentiations run on `pool` (or
  /// serially when it is null).
  [[nodiscard]] std::vector<paillier_ciphertext> encrypt(std::span<const bigint> ms, random_source& rng,
                                                         fedpp::parallel::thread_pool* pool = nullptr) const {
    for (const auto& m : ms) (void)to_residue(m); // refuse before drawing anything
    std::vector<bigint> rs(ms.size());
    for (auto& r : rs) r = random_r(rng);
    std::vector<paillier_ciphertext> out(ms.size());
    detail::for_each_index(pool, ms.size(), [&](std::size_t i) { out[i] = encrypt_with_r(ms[i], rs[i]); });
    return out;
  }

  /// Enc(a + b) = a · b mod n².
  [[nodiscard]] paillier_ciphertext add(const paillier_ciphertext& a, const paillier_ciphertext& b) const {
    paillier_ciphertext c;
    mpz_mul(c.value.get(), a.value.get(), b.value.get());
    mpz_mod(c.value.get(), c.value.get(), n2_.get());
    return c;
  }

  /// Enc(a + m) for a plaintext m (|m| < n): a · (1 + m·n) mod n². Keeps a's randomness.
  [[nodiscard]] paillier_ciphertext add_plain(const paillier_ciphertext& a, const bigint& m) const {
    paillier_ciphertext c{nude(m)};
    mpz_mul(c.value.get(), c.value.get(), a.value.get());
    mpz_mod(c.value.get(), c.value.get(), n2_.get());
    return c;
  }

  /// Enc(k · a) for a signed scalar k, |k| < n: a^k mod n², with a negative k as (a^(−1))^|k|
  /// (python-paillier's convention for residues above n − max_int). Keeps a's randomness (raised
  /// to k): re-randomise before sending a product whose scalar is secret. k = 0 gives the
  /// ciphertext 1 (= Enc(0; r = 1)), which must be re-randomised before it leaves.
  [[nodiscard]] paillier_ciphertext multiply(const paillier_ciphertext& a, const bigint& k) const {
    bigint mag;
    mpz_abs(mag.get(), k.get());
    if (mag >= n_)
      throw invalid_config("paillier::multiply: the scalar has " + std::to_string(k.bit_length()) +
                           " bits, not below n (" + std::to_string(bits()) + " bits)");
    paillier_ciphertext c;
    if (k.sign() >= 0) {
      detail::powm_sec(c.value, a.value, mag, n2_);
    } else {
      bigint inv;
      if (mpz_invert(inv.get(), a.value.get(), n2_.get()) == 0)
        throw invalid_config("paillier::multiply: the ciphertext is not invertible mod n² (not of this key)");
      detail::powm_sec(c.value, inv, mag, n2_);
    }
    return c;
  }

  /// Enc(−a) = a^(−1) mod n².
  [[nodiscard]] paillier_ciphertext negate(const paillier_ciphertext& a) const {
    paillier_ciphertext c;
    if (mpz_invert(c.value.get(), a.value.get(), n2_.get()) == 0)
      throw invalid_config("paillier::negate: the ciphertext is not invertible mod n² (not of this key)");
    return c;
  }

  /// The same plaintext under fresh randomness: a · r^n mod n² for a uniform r.
  [[nodiscard]] paillier_ciphertext rerandomize(const paillier_ciphertext& a, random_source& rng) const {
    const bigint o = obfuscator(rng);
    paillier_ciphertext c;
    mpz_mul(c.value.get(), a.value.get(), o.get());
    mpz_mod(c.value.get(), c.value.get(), n2_.get());
    return c;
  }

  /// Wraps an integer received from elsewhere as a ciphertext of this key after checking it: in
  /// [1, n²) and coprime to n. Throws malformed_message naming `what` otherwise.
  [[nodiscard]] paillier_ciphertext ciphertext_from(bigint value,
                                                    const std::string& what = "ciphertext") const {
    check_ciphertext_value(value, what);
    return paillier_ciphertext{std::move(value)};
  }

  /// Throws malformed_message unless 1 ≤ c < n² and gcd(c, n) = 1 (what a valid ciphertext is).
  void check_ciphertext_value(const bigint& c, const std::string& what = "ciphertext") const {
    if (c.sign() <= 0 || c >= n2_)
      throw malformed_message("paillier: " + what + " is outside [1, n^2) (" +
                              std::to_string(c.bit_length()) + " bits, n^2 has " +
                              std::to_string(n2_.bit_length()) + ")");
    bigint g;
    mpz_gcd(g.get(), c.get(), n_.get());
    if (mpz_cmp_ui(g.get(), 1) != 0) throw malformed_message("paillier: " + what + " shares a factor with n");
  }

private:
  void check_r(const bigint& r) const {
    bigint g;
    mpz_gcd(g.get(), r.get(), n_.get());
    if (r.sign() <= 0 || r >= n_ || mpz_cmp_ui(g.get(), 1) != 0)
      throw invalid_config("paillier: r must lie in Z*_n (1 <= r < n, gcd(r, n) = 1)");
  }
  void check_value(const bigint& v, const char* what) const {
    bigint g;
    mpz_gcd(g.get(), v.get(), n_.get());
    if (v.sign() <= 0 || v >= n2_ || mpz_cmp_ui(g.get(), 1) != 0)
      throw invalid_config(std::string("paillier: the ") + what +
                           " must lie in [1, n^2) and be coprime to n");
  }

  bigint n_;
  bigint n2_;
  bigint max_int_;
};

/// The private key: the primes p < q with the CRT constants of Paillier 1999 §7 precomputed. Its
/// destructor overwrites the secret numbers. Also encrypts faster than the public key (see
/// encrypt), since the key holder may use the factorisation.
class paillier_private_key {
public:
  /// The key of primes p and q (either order). Throws invalid_config unless both are probable
  /// primes (paillier_prime_reps rounds), distinct, n = pq is a valid public key, and
  /// gcd(n, (p − 1)(q − 1)) = 1.
  paillier_private_key(const bigint& p, const bigint& q) : public_(checked_n(p, q)) {
    p_ = p < q ? p : q;
    q_ = p < q ? q : p;
    mpz_mul(p2_.get(), p_.get(), p_.get());
    mpz_mul(q2_.get(), q_.get(), q_.get());
    mpz_sub_ui(pm1_.get(), p_.get(), 1);
    mpz_sub_ui(qm1_.get(), q_.get(), 1);
    hp_ = h_function(p_, p2_, pm1_);
    hq_ = h_function(q_, q2_, qm1_);
    if (mpz_invert(q_inv_p_.get(), q_.get(), p_.get()) == 0 ||
        mpz_invert(q2_inv_p2_.get(), q2_.get(), p2_.get()) == 0)
      throw invalid_config("paillier_private_key: p and q are not coprime");
  }
  paillier_private_key(const paillier_private_key&) = default;
  paillier_private_key(paillier_private_key&&) noexcept = default;
  paillier_private_key& operator=(const paillier_private_key&) = default;
  paillier_private_key& operator=(paillier_private_key&&) noexcept = default;
  ~paillier_private_key() {
    for (bigint* b : {&p_, &q_, &p2_, &q2_, &pm1_, &qm1_, &hp_, &hq_, &q_inv_p_, &q2_inv_p2_}) wipe(*b);
  }

  /// The matching public key.
  [[nodiscard]] const paillier_public_key& public_key() const noexcept { return public_; }
  /// The smaller prime.
  [[nodiscard]] const bigint& p() const noexcept { return p_; }
  /// The larger prime.
  [[nodiscard]] const bigint& q() const noexcept { return q_; }

  /// Dec(c) ∈ [0, n) by the CRT (two exponentiations mod p² and q² with exponents p − 1 and
  /// q − 1). Throws malformed_message for a value outside [1, n²) or not coprime to n.
  [[nodiscard]] bigint decrypt(const paillier_ciphertext& c) const {
    public_.check_ciphertext_value(c.value);
    const bigint mp = decrypt_half(c.value, p_, p2_, pm1_, hp_);
    const bigint mq = decrypt_half(c.value, q_, q2_, qm1_, hq_);
    // m = mq + q · ((mp − mq) · q^(−1) mod p)
    bigint t;
    mpz_sub(t.get(), mp.get(), mq.get());
    mpz_mul(t.get(), t.get(), q_inv_p_.get());
    mpz_mod(t.get(), t.get(), p_.get());
    mpz_mul(t.get(), t.get(), q_.get());
    mpz_add(t.get(), t.get(), mq.get());
    return t;
  }

  /// Decrypts every ciphertext, on `pool` when given. Throws (malformed_message) for the first bad
  /// one, before decrypting anything.
  [[nodiscard]] std::vector<bigint> decrypt(std::span<const paillier_ciphertext> cs,
                                            fedpp::parallel::thread_pool* pool = nullptr) const {
    for (std::size_t i = 0; i < cs.size(); ++i)
      public_.check_ciphertext_value(cs[i].value, "ciphertext " + std::to_string(i));
    std::vector<bigint> out(cs.size());
    detail::for_each_index(pool, cs.size(), [&](std::size_t i) { out[i] = decrypt(cs[i]); });
    return out;
  }

  /// A fresh obfuscator with the distribution of r^n mod n² for uniform r ∈ Z*_n, made by the CRT:
  /// the n-th residues mod p² are the subgroup of order p − 1, whose uniform element is s^p mod
  /// p² for uniform s ∈ Z*_p (likewise mod q²). Two exponentiations with (bits/2)-bit exponents
  /// mod p² and q² instead of one with a bits-bit exponent mod n²: about 3–4× cheaper.
  [[nodiscard]] bigint obfuscator(random_source& rng) const {
    const bigint sp = detail::uniform_unit(p_, rng);
    const bigint sq = detail::uniform_unit(q_, rng);
    return obfuscator_from(sp, sq);
  }

  /// r^n mod n² for a given r ∈ Z*_n by the CRT (equals paillier_public_key::obfuscator_for(r)):
  /// r^n mod p² = ((r^p mod p²)^(q mod (p − 1))) mod p², since r^p lies in the subgroup of order
  /// dividing p − 1.
  [[nodiscard]] bigint obfuscator_for(const bigint& r) const {
    bigint g;
    mpz_gcd(g.get(), r.get(), public_.n().get());
    if (r.sign() <= 0 || r >= public_.n() || mpz_cmp_ui(g.get(), 1) != 0)
      throw invalid_config("paillier: r must lie in Z*_n (1 <= r < n, gcd(r, n) = 1)");
    const bigint xp = power_n_mod_square(r, p_, p2_, q_, pm1_);
    const bigint xq = power_n_mod_square(r, q_, q2_, p_, qm1_);
    return crt_squares(xp, xq);
  }

  /// Enc(m) with a fresh obfuscator made by the CRT (same distribution as the public key's encrypt).
  [[nodiscard]] paillier_ciphertext encrypt(const bigint& m, random_source& rng) const {
    return public_.encrypt_with_obfuscator(m, obfuscator(rng));
  }

  /// Encrypts every value with fresh CRT obfuscators: the randomness is drawn from `rng` first, in
  /// order, then the exponentiations run on `pool` (or serially).
  [[nodiscard]] std::vector<paillier_ciphertext> encrypt(std::span<const bigint> ms, random_source& rng,
                                                         fedpp::parallel::thread_pool* pool = nullptr) const {
    for (const auto& m : ms) (void)public_.to_residue(m);
    std::vector<std::pair<bigint, bigint>> s(ms.size());
    for (auto& [sp, sq] : s) {
      sp = detail::uniform_unit(p_, rng);
      sq = detail::uniform_unit(q_, rng);
    }
    std::vector<paillier_ciphertext> out(ms.size());
    detail::for_each_index(pool, ms.size(), [&](std::size_t i) {
      out[i] = public_.encrypt_with_obfuscator(ms[i], obfuscator_from(s[i].first, s[i].second));
    });
    return out;
  }

private:
  static bigint checked_n(const bigint& p, const bigint& q) {
    if (p.sign() <= 0 || q.sign() <= 0 || mpz_probab_prime_p(p.get(), paillier_prime_reps) == 0 ||
        mpz_probab_prime_p(q.get(), paillier_prime_reps) == 0)
      throw invalid_config("paillier_private_key: p and q must be primes");
    if (p == q) throw invalid_config("paillier_private_key: p and q must differ");
    bigint n = p * q;
    bigint phi = (p - bigint(1)) * (q - bigint(1));
    bigint g;
    mpz_gcd(g.get(), n.get(), phi.get());
    if (mpz_cmp_ui(g.get(), 1) != 0) throw invalid_config("paillier_private_key: gcd(pq, (p-1)(q-1)) != 1");
    return n;
  }
  static void wipe(bigint& b) noexcept {
    const auto limbs = mpz_size(b.get());
    if (limbs > 0)
      sodium_memzero(mpz_limbs_modify(b.get(), static_cast<mp_size_t>(limbs)), limbs * sizeof(mp_limb_t));
    mpz_set_ui(b.get(), 0);
  }
  /// h_p = L_p(g^(p−1) mod p²)^(−1) mod p.
  bigint h_function(const bigint& p, const bigint& p2, const bigint& pm1) const {
    bigint x;
    const bigint g = public_.g();
    mpz_powm(x.get(), g.get(), pm1.get(), p2.get());
    l_function(x, p);
    if (mpz_invert(x.get(), x.get(), p.get()) == 0)
      throw invalid_config("paillier_private_key: h_p is not invertible");
    return x;
  }
  /// L_p(x) = (x − 1)/p, in place.
  static void l_function(bigint& x, const bigint& p) {
    mpz_sub_ui(x.get(), x.get(), 1);
    mpz_divexact(x.get(), x.get(), p.get());
  }
  static bigint decrypt_half(const bigint& c, const bigint& p, const bigint& p2, const bigint& pm1,
                             const bigint& hp) {
    bigint x;
    mpz_mod(x.get(), c.get(), p2.get());
    mpz_powm_sec(x.get(), x.get(), pm1.get(), p2.get());
    l_function(x, p);
    mpz_mul(x.get(), x.get(), hp.get());
    mpz_mod(x.get(), x.get(), p.get());
    return x;
  }
  /// r^(p·q) mod p² = (r^p mod p²)^(q mod (p − 1)) mod p².
  static bigint power_n_mod_square(const bigint& r, const bigint& p, const bigint& p2, const bigint& q,
                                   const bigint& pm1) {
    bigint x;
    mpz_mod(x.get(), r.get(), p2.get());
    mpz_powm_sec(x.get(), x.get(), p.get(), p2.get());
    bigint e;
    mpz_mod(e.get(), q.get(), pm1.get());
    detail::powm_sec(x, x, e, p2);
    return x;
  }
  bigint obfuscator_from(const bigint& sp, const bigint& sq) const {
    bigint xp;
    bigint xq;
    mpz_powm_sec(xp.get(), sp.get(), p_.get(), p2_.get());
    mpz_powm_sec(xq.get(), sq.get(), q_.get(), q2_.get());
    return crt_squares(xp, xq);
  }
  /// The x mod n² with x ≡ xp (mod p²) and x ≡ xq (mod q²): xq + q² · ((xp − xq) · (q²)^(−1) mod p²).
  bigint crt_squares(const bigint& xp, const bigint& xq) const {
    bigint t;
    mpz_sub(t.get(), xp.get(), xq.get());
    mpz_mul(t.get(), t.get(), q2_inv_p2_.get());
    mpz_mod(t.get(), t.get(), p2_.get());
    mpz_mul(t.get(), t.get(), q2_.get());
    mpz_add(t.get(), t.get(), xq.get());
    return t;
  }

  paillier_public_key public_;
  bigint p_, q_, p2_, q2_, pm1_, qm1_, hp_, hq_, q_inv_p_, q2_inv_p2_;
};

/// A key pair.
struct paillier_keypair {
  paillier_public_key public_key;
  paillier_private_key private_key;
};

namespace detail {
/// A random prime of exactly `bits` bits with its two top bits set (so that the product of two has
/// exactly 2·bits bits): random odd candidate from `rng`, then the next probable prime.
inline bigint random_prime(std::size_t bits, random_source& rng) {
  std::vector<std::byte> buf((bits + 7) / 8);
  for (;;) {
    rng.fill(buf);
    bigint x = bigint::from_bytes_le(buf);
    mpz_fdiv_r_2exp(x.get(), x.get(), bits);
    mpz_setbit(x.get(), bits - 1);
    mpz_setbit(x.get(), bits - 2);
    mpz_setbit(x.get(), 0);
    mpz_nextprime(x.get(), x.get());
    if (x.bit_length() == bits && mpz_probab_prime_p(x.get(), paillier_prime_reps) != 0) {
      sodium_memzero(buf.data(), buf.size());
      return x;
    }
  }
}
} // namespace detail

/// A fresh key pair with an n of exactly `bits` bits: p and q random primes of bits/2 bits each
/// (top two bits set; safe primes are not needed), |p − q| ≥ 2^(bits/2 − 100) (FIPS 186-4's bound
/// for RSA moduli), gcd(pq, (p − 1)(q − 1)) = 1. Randomness from `rng` (the operating system's by
/// default). Throws invalid_config for an odd `bits` or one outside
/// [paillier_min_generated_bits, paillier_max_key_bits]. 2048 bits takes a few hundred ms.
[[nodiscard]] inline paillier_keypair generate_paillier_keypair(std::size_t bits, random_source& rng) {
  if (bits % 2 != 0 || bits < paillier_min_generated_bits || bits > paillier_max_key_bits)
    throw invalid_config("generate_paillier_keypair: bits must be even and in [" +
                         std::to_string(paillier_min_generated_bits) + ", " +
                         std::to_string(paillier_max_key_bits) + "], got " + std::to_string(bits));
  const std::size_t half = bits / 2;
  const bigint min_gap = bigint::pow2(half > 100 ? half - 100 : half / 2);
  for (;;) {
    bigint p = detail::random_prime(half, rng);
    bigint q = detail::random_prime(half, rng);
    bigint gap;
    mpz_sub(gap.get(), p.get(), q.get());
    mpz_abs(gap.get(), gap.get());
    if (gap < min_gap) continue;
    if ((p * q).bit_length() != bits) continue;
    try {
      paillier_private_key sk(p, q);
      paillier_public_key pk = sk.public_key();
      return paillier_keypair{std::move(pk), std::move(sk)};
    } catch (const invalid_config&) {
      continue; // gcd(n, phi) != 1: draw again
    }
  }
}

/// generate_paillier_keypair with the operating system's randomness.
[[nodiscard]] inline paillier_keypair generate_paillier_keypair(std::size_t bits = 2048) {
  random_source rng;
  return generate_paillier_keypair(bits, rng);
}

} // namespace fedpp::vertical
