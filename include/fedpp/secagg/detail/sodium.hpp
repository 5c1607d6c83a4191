/// \file sodium.hpp
/// Private libsodium glue of fedpp::secagg: one-time initialisation, a seedable cryptographic
/// random source, secret wiping and the little-endian byte codec of the protocol payloads.
#pragma once

#include "fedpp/error.hpp"
#include "fedpp/transport/wire_format.hpp"

#include <sodium.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace fedpp::secagg::detail {

/// 32 bytes of key material (X25519 keys, self-mask seeds, ChaCha20 keys).
using key32 = std::array<std::byte, 32>;

/// Initialises libsodium once (thread-safe in libsodium itself); throws if it cannot.
inline void ensure_sodium() {
  static const int status = sodium_init();
  if (status < 0) throw invalid_config("secagg: libsodium failed to initialise (sodium_init returned -1)");
}

/// Overwrites secret bytes in a way the compiler cannot elide.
inline void wipe(void* p, std::size_t n) noexcept { sodium_memzero(p, n); }

/// Cryptographic randomness: the operating system's (randombytes_buf) by default, or, for
/// reproducible tests and benchmarks only, a ChaCha20 stream keyed by a fixed seed.
class secure_rng {
public:
  secure_rng() { ensure_sodium(); }
  explicit secure_rng(const key32& seed) : seed_(seed) { ensure_sodium(); }
  secure_rng(const secure_rng&) = delete;
  secure_rng& operator=(const secure_rng&) = delete;
  ~secure_rng() {
    if (seed_) wipe(seed_->data(), seed_->size());
  }

  void fill(std::span<std::byte> out) {
    if (out.empty()) return;
    if (!seed_) {
      randombytes_buf(out.data(), out.size());
      return;
    }
    std::array<unsigned char, crypto_stream_chacha20_ietf_NONCEBYTES> nonce{};
    for (std::size_t i = 0; i < 8; ++i) nonce[i] = static_cast<unsigned char>((counter_ >> (8 * i)) & 0xffU);
    ++counter_;
    crypto_stream_chacha20_ietf(reinterpret_cast<unsigned char*>(out.data()), out.size(), nonce.data(),
                                reinterpret_cast<const unsigned char*>(seed_->data()));
  }
  key32 key() {
    key32 k;
    fill(k);
    return k;
  }
  std::uint64_t u64() {
    std::array<std::byte, 8> b;
    fill(b);
    return wire::detail::get_u64(b.data());
  }

private:
  std::optional<key32> seed_;
  std::uint64_t counter_ = 0;
};

/// Appends little-endian fields to a payload.
class byte_writer {
public:
  void u8(std::uint8_t v) { bytes_.push_back(static_cast<std::byte>(v)); }
  void u32(std::uint32_t v) {
    const auto at = grow(4);
    wire::detail::put_u32(bytes_.data() + at, v);
  }
  void u64(std::uint64_t v) {
    const auto at = grow(8);
    wire::detail::put_u64(bytes_.data() + at, v);
  }
  void raw(std::span<const std::byte> b) {
    const auto at = grow(b.size());
    if (!b.empty()) std::memcpy(bytes_.data() + at, b.data(), b.size());
  }
  [[nodiscard]] std::vector<std::byte>& bytes() noexcept { return bytes_; }
  /// Wipes the bytes (plaintexts that held shares).
  void wipe_all() noexcept {
    if (!bytes_.empty()) wipe(bytes_.data(), bytes_.size());
  }

private:
  std::size_t grow(std::size_t n) {
    const auto at = bytes_.size();
    bytes_.resize(at + n);
    return at;
  }
  std::vector<std::byte> bytes_;
};

/// Reads little-endian fields, never past the end: a short payload is malformed_message naming
/// the message and the sizes (never the bytes).
class byte_reader {
public:
  byte_reader(std::span<const std::byte> bytes, const char* what) : bytes_(bytes), what_(what) {}
  std::uint8_t u8() { return std::to_integer<std::uint8_t>(take(1)[0]); }
  std::uint32_t u32() { return wire::detail::get_u32(take(4).data()); }
  std::uint64_t u64() { return wire::detail::get_u64(take(8).data()); }
  std::span<const std::byte> raw(std::size_t n) { return take(n); }
  [[nodiscard]] std::size_t remaining() const noexcept { return bytes_.size() - at_; }
  /// Refuses trailing bytes.
  void finish() const {
    if (at_ != bytes_.size())
      throw malformed_message(std::string("secagg: ") + what_ + " has " +
                              std::to_string(bytes_.size() - at_) + " trailing bytes after " +
                              std::to_string(at_));
  }
  /// Refuses a count whose entries of `entry_bytes` cannot fit in what is left.
  void check_count(std::uint64_t count, std::size_t entry_bytes) const {
    if (count > remaining() / entry_bytes)
      throw malformed_message(std::string("secagg: ") + what_ + " claims " + std::to_string(count) +
                              " entries of " + std::to_string(entry_bytes) + " bytes but only " +
                              std::to_string(remaining()) + " bytes remain");
  }

private:
  std::span<const std::byte> take(std::size_t n) {
    if (n > bytes_.size() - at_)
      throw malformed_message(std::string("secagg: ") + what_ + " is truncated: needs " +
                              std::to_string(at_ + n) + " bytes, has " + std::to_string(bytes_.size()));
    const auto out = bytes_.subspan(at_, n);
    at_ += n;
    return out;
  }
  std::span<const std::byte> bytes_;
  std::size_t at_ = 0;
  const char* what_;
};

inline key32 to_key(std::span<const std::byte> b) {
  key32 k;
  std::memcpy(k.data(), b.data(), k.size());
  return k;
}

inline const unsigned char* uc(const std::byte* p) noexcept {
  return reinterpret_cast<const unsigned char*>(p);
}
inline unsigned char* uc(std::byte* p) noexcept { return reinterpret_cast<unsigned char*>(p); }

} // namespace fedpp::secagg::detail
