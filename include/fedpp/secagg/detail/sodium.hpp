/// \file sodium.hpp
/// Private libsodium glue of fedpp::secagg: the little-endian byte codec of the protocol payloads
/// (initialisation, wiping and the random source live in random_source.hpp).
#pragma once

#include "fedpp/error.hpp"
#include "fedpp/secagg/random_source.hpp"
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

/// Key material as used everywhere in the protocol (the public type of random_source.hpp).
using fedpp::secagg::key32;

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
