/// \file paillier_wire.hpp
/// Paillier keys and ciphertexts as bytes and as wire-format control messages, with every field
/// validated against what the receiver knows before anything is allocated or used.
///
/// Payloads (integers little-endian; a number of k bits in ⌈k/8⌉ bytes, little-endian):
///
/// | payload         | fields                                                                      |
/// |-----------------|-----------------------------------------------------------------------------|
/// | public key      | u32 version (1), u32 bits of n, n in ⌈bits/8⌉ bytes                         |
/// | private key     | u32 version (1), u32 bits of n, p and q in ⌈bits/16⌉ + 1 bytes each         |
/// | ciphertext list | u32 version (1), u32 bits of n, u64 count, u8 has_exponents, count ×        |
/// |                 | ciphertext in ⌈bits(n²)/8⌉ bytes, then (has_exponents) count × i32 exponent  |
///
/// A decoded public key must be odd, of exactly the declared bit length, within the receiver's
/// limits (and of the expected size when the receiver names one); a ciphertext must lie in
/// [1, n²) and be coprime to n; a count must match the bytes and the receiver's bound.
#pragma once

#include "fedpp/error.hpp"
#include "fedpp/transport/message.hpp"
#include "fedpp/transport/wire_format.hpp"
#include "fedpp/vertical/bigint.hpp"
#include "fedpp/vertical/detail/codec.hpp"
#include "fedpp/vertical/paillier.hpp"
#include "fedpp/vertical/paillier_encoding.hpp"
#include "fedpp/vertical/tags.hpp"

#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace fedpp::vertical::paillier_wire {

/// The payload format version.
inline constexpr std::uint32_t version = 1;

/// What a receiver accepts in a public key.
struct key_limits {
  std::size_t min_bits = 2048;                  ///< smaller keys refused (tests lower it)
  std::size_t max_bits = paillier_max_key_bits; ///< larger keys refused before allocating
  std::optional<std::size_t> expected_bits{};   ///< when set, any other size is refused
};

namespace detail {
inline std::size_t number_bytes(std::size_t bits) { return (bits + 7) / 8; }

inline std::size_t read_header(vertical::detail::byte_reader& r, std::size_t min_bits, std::size_t max_bits) {
  const std::uint32_t v = r.u32();
  if (v != version)
    r.fail("has format version " + std::to_string(v) + ", expected " + std::to_string(version));
  const std::uint32_t bits = r.u32();
  if (bits < min_bits || bits > max_bits)
    r.fail("declares a " + std::to_string(bits) + "-bit key, outside [" + std::to_string(min_bits) + ", " +
           std::to_string(max_bits) + "]");
  return bits;
}
} // namespace detail

/// The public key's payload.
[[nodiscard]] inline std::vector<std::byte> encode_public_key(const paillier_public_key& pk) {
  vertical::detail::byte_writer w;
  w.u32(version);
  w.u32(static_cast<std::uint32_t>(pk.bits()));
  pk.n().write_le(
      std::span<std::byte>(w.grow(detail::number_bytes(pk.bits())), detail::number_bytes(pk.bits())));
  return std::move(w.bytes());
}

/// Decodes a public key, refusing (malformed_message) a wrong version, a size outside `limits`,
/// an n that is even, a perfect square, or not of the declared bit length, and trailing bytes.
[[nodiscard]] inline paillier_public_key decode_public_key(std::span<const std::byte> bytes,
                                                           const key_limits& limits = {}) {
  vertical::detail::byte_reader r(bytes, "paillier public key");
  const std::size_t bits = detail::read_header(r, std::max(limits.min_bits, paillier_min_key_bits),
                                               std::min(limits.max_bits, paillier_max_key_bits));
  if (limits.expected_bits && bits != *limits.expected_bits)
    r.fail("declares a " + std::to_string(bits) + "-bit key, expected " +
           std::to_string(*limits.expected_bits));
  bigint n = bigint::from_bytes_le(r.raw(detail::number_bytes(bits)));
  r.finish();
  if (n.bit_length() != bits)
    r.fail("declares " + std::to_string(bits) + " bits but n has " + std::to_string(n.bit_length()));
  if (!n.is_odd()) r.fail("has an even n");
  try {
    return paillier_public_key(std::move(n));
  } catch (const invalid_config& e) {
    r.fail(std::string("is not a valid key: ") + e.what());
  }
}

/// The private key's payload (p and q: keep it secret; for storage, not for the wire to peers).
[[nodiscard]] inline std::vector<std::byte> encode_private_key(const paillier_private_key& sk) {
  vertical::detail::byte_writer w;
  const std::size_t bits = sk.public_key().bits();
  const std::size_t field = detail::number_bytes(bits / 2) + 1;
  w.u32(version);
  w.u32(static_cast<std::uint32_t>(bits));
  sk.p().write_le(std::span<std::byte>(w.grow(field), field));
  sk.q().write_le(std::span<std::byte>(w.grow(field), field));
  return std::move(w.bytes());
}

/// Decodes a private key (the primes are checked as paillier_private_key's constructor does, and
/// must come in ascending order, as encode_private_key writes them: one encoding per key).
[[nodiscard]] inline paillier_private_key decode_private_key(std::span<const std::byte> bytes,
                                                             const key_limits& limits = {}) {
  vertical::detail::byte_reader r(bytes, "paillier private key");
  const std::size_t bits = detail::read_header(r, std::max(limits.min_bits, paillier_min_key_bits),
                                               std::min(limits.max_bits, paillier_max_key_bits));
  if (limits.expected_bits && bits != *limits.expected_bits)
    r.fail("declares a " + std::to_string(bits) + "-bit key, expected " +
           std::to_string(*limits.expected_bits));
  const std::size_t field = detail::number_bytes(bits / 2) + 1;
  const bigint p = bigint::from_bytes_le(r.raw(field));
  const bigint q = bigint::from_bytes_le(r.raw(field));
  r.finish();
  // encode_private_key writes p < q: the other order is a second encoding of the same key.
  if (!(p < q)) r.fail("has p >= q (the primes are stored in ascending order)");
  try {
    paillier_private_key sk(p, q);
    if (sk.public_key().bits() != bits)
      r.fail("declares " + std::to_string(bits) + " bits but pq has " +
             std::to_string(sk.public_key().bits()));
    return sk;
  } catch (const invalid_config& e) {
    r.fail(std::string("is not a valid key: ") + e.what());
  }
}

/// The payload of a list of ciphertexts of `pk` (with their exponents when given: one per
/// ciphertext).
[[nodiscard]] inline std::vector<std::byte> encode_ciphertexts(const paillier_public_key& pk,
                                                               std::span<const paillier_ciphertext> cs,
                                                               std::span<const int> exponents = {}) {
  if (!exponents.empty() && exponents.size() != cs.size())
    throw invalid_config("paillier_wire::encode_ciphertexts: " + std::to_string(exponents.size()) +
                         " exponents for " + std::to_string(cs.size()) + " ciphertexts");
  const std::size_t width = pk.ciphertext_bytes();
  vertical::detail::byte_writer w;
  w.reserve(17 + cs.size() * (width + 4));
  w.u32(version);
  w.u32(static_cast<std::uint32_t>(pk.bits()));
  w.u64(cs.size());
  w.u8(exponents.empty() ? 0 : 1);
  for (const auto& c : cs) c.value.write_le(std::span<std::byte>(w.grow(width), width));
  for (int e : exponents) w.u32(static_cast<std::uint32_t>(e));
  return std::move(w.bytes());
}

/// Encrypted numbers: their ciphertexts and exponents.
[[nodiscard]] inline std::vector<std::byte> encode_encrypted_numbers(const paillier_public_key& pk,
                                                                     std::span<const encrypted_number> xs) {
  std::vector<paillier_ciphertext> cs;
  std::vector<int> es;
  cs.reserve(xs.size());
  es.reserve(xs.size());
  for (const auto& x : xs) {
    cs.push_back(x.ciphertext);
    es.push_back(x.exponent);
  }
  return encode_ciphertexts(pk, cs, es);
}

/// A decoded list: ciphertexts and, when the sender included them, exponents.
struct ciphertext_list {
  std::vector<paillier_ciphertext> ciphertexts;
  std::vector<int> exponents; ///< empty, or one per ciphertext
};

/// Decodes a list of ciphertexts of `pk`: refuses (malformed_message) another key size, a count
/// above `max_count` or not matching the bytes, a ciphertext outside [1, n²) or sharing a factor
/// with n, exponents outside [−100000, 100000], exponents flagged for an empty list, trailing
/// bytes. Nothing is allocated for a count the bytes cannot hold.
[[nodiscard]] inline ciphertext_list
decode_ciphertexts(const paillier_public_key& pk, std::span<const std::byte> bytes, std::uint64_t max_count) {
  vertical::detail::byte_reader r(bytes, "paillier ciphertext list");
  const std::size_t bits = detail::read_header(r, pk.bits(), pk.bits());
  (void)bits;
  const std::uint64_t count = r.u64();
  const std::uint8_t has_exponents = r.u8();
  if (has_exponents > 1) r.fail("has has_exponents = " + std::to_string(has_exponents));
  // encode_ciphertexts flags exponents only when there are ciphertexts: one encoding per list.
  if (has_exponents == 1 && count == 0) r.fail("flags exponents for an empty list");
  if (count > max_count)
    r.fail("holds " + std::to_string(count) + " ciphertexts, more than " + std::to_string(max_count));
  const std::size_t width = pk.ciphertext_bytes();
  r.check_count(count, width + (has_exponents ? 4 : 0));
  ciphertext_list out;
  out.ciphertexts.reserve(count);
  for (std::uint64_t i = 0; i < count; ++i) {
    bigint c = bigint::from_bytes_le(r.raw(width));
    out.ciphertexts.push_back(pk.ciphertext_from(std::move(c), "ciphertext " + std::to_string(i)));
  }
  if (has_exponents) {
    out.exponents.reserve(count);
    for (std::uint64_t i = 0; i < count; ++i) {
      const auto e = static_cast<std::int32_t>(r.u32());
      if (e < -100000 || e > 100000)
        r.fail("exponent " + std::to_string(i) + " = " + std::to_string(e) + " out of range");
      out.exponents.push_back(e);
    }
  }
  r.finish();
  return out;
}

/// Decodes encrypted numbers (the list must carry exponents).
[[nodiscard]] inline std::vector<encrypted_number> decode_encrypted_numbers(const paillier_public_key& pk,
                                                                            std::span<const std::byte> bytes,
                                                                            std::uint64_t max_count) {
  auto list = decode_ciphertexts(pk, bytes, max_count);
  if (list.exponents.size() != list.ciphertexts.size())
    throw malformed_message(
        "paillier ciphertext list carries no exponents where encrypted numbers were expected");
  std::vector<encrypted_number> out(list.ciphertexts.size());
  for (std::size_t i = 0; i < out.size(); ++i)
    out[i] = encrypted_number{std::move(list.ciphertexts[i]), list.exponents[i]};
  return out;
}

/// The public key as a control message (tag vertical_tag::paillier_public_key).
[[nodiscard]] inline message public_key_message(const paillier_public_key& pk, std::uint64_t round,
                                                endpoint_id sender) {
  return vertical::detail::control_message(round, sender, to_wire(vertical_tag::paillier_public_key),
                                           encode_public_key(pk));
}

/// Ciphertexts as a control message (tag vertical_tag::paillier_ciphertexts).
[[nodiscard]] inline message ciphertexts_message(const paillier_public_key& pk,
                                                 std::span<const paillier_ciphertext> cs, std::uint64_t round,
                                                 endpoint_id sender, std::span<const int> exponents = {}) {
  return vertical::detail::control_message(round, sender, to_wire(vertical_tag::paillier_ciphertexts),
                                           encode_ciphertexts(pk, cs, exponents));
}

/// The payload of a decoded control message after checking its kind, tag and round: throws
/// malformed_message otherwise.
[[nodiscard]] inline std::span<const std::byte> expect_control(const wire::decoded_message& d,
                                                               vertical_tag tag, std::uint64_t round) {
  if (d.kind() != wire::message_kind::control || d.tag() != to_wire(tag))
    throw malformed_message("vertical: expected a control message with tag " +
                            wire::detail::hex(to_wire(tag)) + ", got kind " + wire::to_string(d.kind()) +
                            " tag " + wire::detail::hex(d.tag()));
  if (d.round() != round)
    throw malformed_message("vertical: message of round/session " + std::to_string(d.round()) +
                            ", expected " + std::to_string(round));
  return d.payload_bytes();
}

} // namespace fedpp::vertical::paillier_wire
