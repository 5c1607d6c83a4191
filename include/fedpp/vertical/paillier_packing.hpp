/// \file paillier_packing.hpp
/// Several signed integers in one Paillier plaintext (slots), so that one encryption, one
/// decryption and one ciphertext on the wire carry many values. Additions of packed ciphertexts
/// add slot by slot as long as no slot carries into the next; the bounds are explicit here.
///
/// Layout: slot i holds bits [i·w, (i + 1)·w) of the plaintext, w = slot_bits. A value v with
/// −2^(b−1) ≤ v < 2^(b−1) (b = value_bits) is stored as v + 2^(b−1) ∈ [0, 2^b). A sum of
/// `terms` such slots (additions count 1 each; multiplying by a scalar k ≥ 1 counts k) lies in
/// [0, terms · 2^b), which fits the slot while terms ≤ 2^(w − b) = max_terms; decoding subtracts
/// terms · 2^(b−1). slots · w ≤ bits(n) − 1, so the packed plaintext stays below n.
#pragma once

#include "fedpp/error.hpp"
#include "fedpp/vertical/bigint.hpp"
#include "fedpp/vertical/paillier.hpp"

#include <gmp.h>

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace fedpp::vertical {

/// A packed ciphertext: how many slots are in use and how many packed plaintexts its slots sum.
struct packed_ciphertext {
  paillier_ciphertext ciphertext;
  std::size_t count = 0;   ///< slots in use
  std::uint64_t terms = 1; ///< packed plaintexts summed into each slot (scalar factors included)
};

/// Packs and unpacks slots for one key. value_bits ∈ [2, 63]; max_terms ≥ 1 additions allowed
/// (rounded up to a power of two); slot_bits = value_bits + log2(max_terms).
class paillier_packing {
public:
  /// Throws invalid_config for value_bits outside [2, 63], max_terms = 0 or above 2^32, or a
  /// key too small for one slot.
  paillier_packing(const paillier_public_key& pk, unsigned value_bits, std::uint64_t max_terms)
      : pk_(pk), value_bits_(value_bits) {
    if (value_bits < 2 || value_bits > 63)
      throw invalid_config("paillier_packing: value_bits must be in [2, 63], got " +
                           std::to_string(value_bits));
    if (max_terms == 0 || max_terms > (std::uint64_t{1} << 32))
      throw invalid_config("paillier_packing: max_terms must be in [1, 2^32], got " +
                           std::to_string(max_terms));
    unsigned headroom = 0;
    while ((std::uint64_t{1} << headroom) < max_terms) ++headroom;
    max_terms_ = std::uint64_t{1} << headroom;
    slot_bits_ = value_bits + headroom;
    slots_ = (pk.bits() - 1) / slot_bits_;
    if (slots_ == 0) throw invalid_config("paillier_packing: the key is too small for one slot");
  }

  /// Slots per plaintext: ⌊(bits(n) − 1) / slot_bits⌋.
  [[nodiscard]] std::size_t slots() const noexcept { return slots_; }
  /// Bits per slot.
  [[nodiscard]] unsigned slot_bits() const noexcept { return slot_bits_; }
  /// Bits per value (values in [−2^(b−1), 2^(b−1))).
  [[nodiscard]] unsigned value_bits() const noexcept { return value_bits_; }
  /// Packed plaintexts (or scalar weight) one slot may sum: 2^(slot_bits − value_bits).
  [[nodiscard]] std::uint64_t max_terms() const noexcept { return max_terms_; }
  /// The key.
  [[nodiscard]] const paillier_public_key& public_key() const noexcept { return pk_; }

  /// The plaintext of up to slots() values. Throws invalid_config for too many values or one
  /// outside [−2^(b−1), 2^(b−1)).
  [[nodiscard]] bigint pack(std::span<const std::int64_t> values) const {
    if (values.size() > slots_)
      throw invalid_config("paillier_packing::pack: " + std::to_string(values.size()) + " values for " +
                           std::to_string(slots_) + " slots");
    const std::int64_t half = std::int64_t{1} << (value_bits_ - 1);
    bigint out;
    for (std::size_t i = values.size(); i-- > 0;) {
      const std::int64_t v = values[i];
      if (v < -half || v >= half)
        throw invalid_config("paillier_packing::pack: value " + std::to_string(i) + " = " +
                             std::to_string(v) + " outside [-2^" + std::to_string(value_bits_ - 1) + ", 2^" +
                             std::to_string(value_bits_ - 1) + ")");
      mpz_mul_2exp(out.get(), out.get(), slot_bits_);
      const bigint stored = bigint::from_u64(static_cast<std::uint64_t>(v + half));
      mpz_add(out.get(), out.get(), stored.get());
    }
    return out;
  }

  /// Packs and encrypts (fresh r).
  [[nodiscard]] packed_ciphertext encrypt(std::span<const std::int64_t> values, random_source& rng) const {
    return packed_ciphertext{pk_.encrypt(pack(values), rng), values.size(), 1};
  }

  /// Enc(a + b) slot by slot. Throws invalid_config when the counts differ or the terms would
  /// exceed max_terms (a slot could carry into the next).
  [[nodiscard]] packed_ciphertext add(const packed_ciphertext& a, const packed_ciphertext& b) const {
    if (a.count != b.count)
      throw invalid_config("paillier_packing::add: " + std::to_string(a.count) + " vs " +
                           std::to_string(b.count) + " slots");
    check_terms(a.terms, b.terms, "add");
    return packed_ciphertext{pk_.add(a.ciphertext, b.ciphertext), a.count, a.terms + b.terms};
  }

  /// Enc(k · a) slot by slot for k ≥ 1 (terms multiply by k; checked against max_terms).
  [[nodiscard]] packed_ciphertext multiply(const packed_ciphertext& a, std::uint64_t k) const {
    if (k == 0) throw invalid_config("paillier_packing::multiply: the scalar must be >= 1");
    if (a.terms > max_terms_ / k)
      throw invalid_config("paillier_packing::multiply: " + std::to_string(a.terms) + " terms times " +
                           std::to_string(k) + " exceed max_terms = " + std::to_string(max_terms_));
    return packed_ciphertext{pk_.multiply(a.ciphertext, bigint::from_u64(k)), a.count, a.terms * k};
  }

  /// The `count` signed slot values of a decrypted plaintext that sums `terms` packed plaintexts.
  /// Throws invalid_config for count > slots or terms ∉ [1, max_terms], and malformed_message
  /// when the plaintext has bits beyond the slots (not a packing of this layout).
  [[nodiscard]] std::vector<std::int64_t> unpack(const bigint& plaintext, std::size_t count,
                                                 std::uint64_t terms) const {
    if (count > slots_)
      throw invalid_config("paillier_packing::unpack: " + std::to_string(count) + " values for " +
                           std::to_string(slots_) + " slots");
    if (terms == 0 || terms > max_terms_)
      throw invalid_config("paillier_packing::unpack: terms " + std::to_string(terms) + " outside [1, " +
                           std::to_string(max_terms_) + "]");
    if (plaintext.sign() < 0 || plaintext.bit_length() > count * slot_bits_)
      throw malformed_message("paillier_packing::unpack: the plaintext has " +
                              std::to_string(plaintext.bit_length()) + " bits, more than " +
                              std::to_string(count) + " slots of " + std::to_string(slot_bits_));
    const bigint offset = bigint::from_u64(terms) * bigint::pow2(value_bits_ - 1);
    std::vector<std::int64_t> out(count);
    bigint slot;
    for (std::size_t i = 0; i < count; ++i) {
      mpz_fdiv_q_2exp(slot.get(), plaintext.get(), i * slot_bits_);
      mpz_fdiv_r_2exp(slot.get(), slot.get(), slot_bits_);
      out[i] = (slot - offset).to_i64();
    }
    return out;
  }

  /// Decrypts and unpacks.
  [[nodiscard]] std::vector<std::int64_t> decrypt(const paillier_private_key& sk,
                                                  const packed_ciphertext& c) const {
    if (!(sk.public_key() == pk_))
      throw invalid_config("paillier_packing::decrypt: the private key is of another key");
    return unpack(sk.decrypt(c.ciphertext), c.count, c.terms);
  }

private:
  void check_terms(std::uint64_t a, std::uint64_t b, const char* what) const {
    if (a > max_terms_ || b > max_terms_ - a)
      throw invalid_config(std::string("paillier_packing::") + what + ": " + std::to_string(a) + " + " +
                           std::to_string(b) + " terms exceed max_terms = " + std::to_string(max_terms_));
  }

  paillier_public_key pk_;
  unsigned value_bits_;
  unsigned slot_bits_ = 0;
  std::uint64_t max_terms_ = 1;
  std::size_t slots_ = 0;
};

} // namespace fedpp::vertical
