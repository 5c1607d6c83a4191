/// \file protocol.hpp
/// Private wire details of the secure-aggregation protocol: message tags, payload layouts, the
/// pairwise key derivation and the share encryption. All payloads are little-endian.
///
/// | tag | direction       | payload                                                               |
/// |-----|-----------------|-----------------------------------------------------------------------|
/// | 1   | client → server | advertise: c_pk[32] s_pk[32]                                          |
/// | 2   | server → client | keys: u32 n, n × (u64 id, c_pk[32], s_pk[32]) — the live neighbours   |
/// | 3   | client → server | shares: u32 n, n × (u64 to, ciphertext[160])                          |
/// | 4   | server → client | forwarded shares: u32 n, n × (u64 from, ciphertext[160])              |
/// | 5   | client → server | masked input: D × u32                                                 |
/// | 6   | server → client | survivors: u32 n, n × u64 id (the recipient's surviving neighbours)   |
/// | 7   | client → server | unmask: u32 n, n × (u64 owner, u8 kind 0 = seed b / 1 = key s_sk, share) |
/// | 8   | server → client | abort: u32 phase                                                      |
///
/// A share on the wire: u64 x, 5 × u64 y (48 bytes). Ciphertext: 24-byte nonce, then
/// crypto_box_easy (X25519 + XSalsa20-Poly1305, keys c_sk of the sender and c_pk of the recipient)
/// of: u64 round, u64 from, u64 to, share of s_sk, share of b (24 + 2 · 48 = 120 bytes; 160 with nonce and
/// MAC).
#pragma once

#include "fedpp/secagg/detail/sodium.hpp"
#include "fedpp/secagg/secagg_counters.hpp"
#include "fedpp/secagg/shamir.hpp"
#include "fedpp/transport/wire_format.hpp"

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>

namespace fedpp::secagg::detail {

enum tag : std::uint32_t {
  tag_advertise = 1,
  tag_keys = 2,
  tag_shares = 3,
  tag_forward = 4,
  tag_masked = 5,
  tag_survivors = 6,
  tag_unmask = 7,
  tag_abort = 8,
};

inline const char* tag_name(std::uint32_t t) noexcept {
  switch (t) {
  case tag_advertise:
    return "advertise-keys";
  case tag_keys:
    return "key-list";
  case tag_shares:
    return "encrypted-shares";
  case tag_forward:
    return "forwarded-shares";
  case tag_masked:
    return "masked-input";
  case tag_survivors:
    return "survivor-list";
  case tag_unmask:
    return "unmask-shares";
  case tag_abort:
    return "abort";
  default:
    return "unknown";
  }
}

inline constexpr std::size_t share_bytes = 8 * (1 + shamir_words);
inline constexpr std::size_t plaintext_bytes = 24 + 2 * share_bytes;
inline constexpr std::size_t ciphertext_bytes = crypto_box_NONCEBYTES + crypto_box_MACBYTES + plaintext_bytes;
static_assert(ciphertext_bytes == 160);

inline void put_share(byte_writer& w, const shamir_share& s) {
  w.u64(s.x);
  for (const auto y : s.y) w.u64(y);
}
inline shamir_share get_share(byte_reader& r) {
  shamir_share s;
  s.x = r.u64();
  for (auto& y : s.y) y = r.u64();
  return s;
}

/// Decodes a message from `from`, checking the wire format (an unchunked control message) and
/// that the claimed sender is the transport's. Counts and throws on failure: malformed for bytes
/// that do not decode, impersonation when the header names another sender than `from`. Nothing
/// is kept of a refused message.
inline wire::decoded_message open_envelope(const message& m, endpoint_id from, secagg_counters& counters) {
  std::optional<wire::decoded_message> d;
  try {
    d.emplace(wire::decode(m));
  } catch (const malformed_message& e) {
    ++counters.refused[static_cast<std::size_t>(violation::malformed)];
    throw protocol_violation(violation::malformed, from, e.what());
  }
  if (d->kind() != wire::message_kind::control) {
    ++counters.refused[static_cast<std::size_t>(violation::malformed)];
    throw protocol_violation(violation::malformed, from,
                             std::string("expected a control message, got ") + wire::to_string(d->kind()));
  }
  if (d->sender() != from) {
    ++counters.refused[static_cast<std::size_t>(violation::impersonation)];
    throw protocol_violation(violation::impersonation, from,
                             "the message claims sender " + std::to_string(d->sender()) +
                                 " but arrived from " + std::to_string(from));
  }
  if (d->header().is_chunked()) { // the protocol never splits its messages
    ++counters.refused[static_cast<std::size_t>(violation::malformed)];
    throw protocol_violation(violation::malformed, from,
                             "a control message in " + std::to_string(d->header().chunk_count) + " chunks");
  }
  return std::move(*d);
}

/// Counts a violation and builds the exception.
[[nodiscard]] inline protocol_violation refuse(secagg_counters& counters, violation v, endpoint_id from,
                                               const std::string& detail) {
  ++counters.refused[static_cast<std::size_t>(v)];
  return protocol_violation(v, from, detail);
}

/// The ChaCha20 key of the pair {u, v}: BLAKE2b-256 of the X25519 shared point, a domain label,
/// the round and the two ids in increasing order. Returns nullopt for a low-order public key.
inline std::optional<key32> pair_key(const key32& my_secret, const key32& their_public, std::uint64_t round,
                                     std::uint64_t a, std::uint64_t b) {
  key32 shared;
  if (crypto_scalarmult(uc(shared.data()), uc(my_secret.data()), uc(their_public.data())) != 0)
    return std::nullopt;
  byte_writer info;
  static constexpr char label[] = "fedpp secagg pairwise mask v1";
  info.raw(std::as_bytes(std::span(label, sizeof(label) - 1)));
  info.u64(round);
  info.u64(a < b ? a : b);
  info.u64(a < b ? b : a);
  key32 out;
  crypto_generichash_state st;
  crypto_generichash_init(&st, nullptr, 0, out.size());
  crypto_generichash_update(&st, uc(shared.data()), shared.size());
  crypto_generichash_update(&st, uc(info.bytes().data()), info.bytes().size());
  crypto_generichash_final(&st, uc(out.data()), out.size());
  wipe(shared.data(), shared.size());
  wipe(&st, sizeof(st));
  return out;
}

/// X25519 public key of a secret.
inline key32 public_of(const key32& secret) {
  key32 pk;
  crypto_scalarmult_base(uc(pk.data()), uc(secret.data()));
  return pk;
}

} // namespace fedpp::secagg::detail
