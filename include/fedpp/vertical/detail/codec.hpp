/// \file codec.hpp
/// Private byte codec of fedpp::vertical's protocol payloads: little-endian fields appended to a
/// buffer, and a reader that never reads past the end and names the message in its errors.
#pragma once

#include "fedpp/detail/aligned_buffer.hpp"
#include "fedpp/error.hpp"
#include "fedpp/tensor/dtype.hpp"
#include "fedpp/transport/message.hpp"
#include "fedpp/transport/wire_format.hpp"

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <vector>

namespace fedpp::vertical::detail {

/// Appends little-endian fields.
class byte_writer {
public:
  void u8(std::uint8_t v) { bytes_.push_back(static_cast<std::byte>(v)); }
  void u32(std::uint32_t v) { wire::detail::put_u32(grow(4), v); }
  void u64(std::uint64_t v) { wire::detail::put_u64(grow(8), v); }
  void raw(std::span<const std::byte> b) {
    if (!b.empty()) std::memcpy(grow(b.size()), b.data(), b.size());
  }
  /// Reserves `n` bytes at the end and returns where they start (for in-place writers).
  std::byte* grow(std::size_t n) {
    const auto at = bytes_.size();
    bytes_.resize(at + n);
    return bytes_.data() + at;
  }
  void reserve(std::size_t n) { bytes_.reserve(n); }
  [[nodiscard]] std::vector<std::byte>& bytes() noexcept { return bytes_; }

private:
  std::vector<std::byte> bytes_;
};

/// Reads little-endian fields; a short payload is malformed_message naming the message.
class byte_reader {
public:
  byte_reader(std::span<const std::byte> bytes, std::string what) : bytes_(bytes), what_(std::move(what)) {}
  std::uint8_t u8() { return std::to_integer<std::uint8_t>(take(1)[0]); }
  std::uint32_t u32() { return wire::detail::get_u32(take(4).data()); }
  std::uint64_t u64() { return wire::detail::get_u64(take(8).data()); }
  std::span<const std::byte> raw(std::size_t n) { return take(n); }
  [[nodiscard]] std::size_t remaining() const noexcept { return bytes_.size() - at_; }
  /// Refuses trailing bytes.
  void finish() const {
    if (at_ != bytes_.size())
      fail("has " + std::to_string(bytes_.size() - at_) + " trailing bytes after " + std::to_string(at_));
  }
  /// Refuses a count whose entries of `entry_bytes` cannot fit in what is left (before allocating).
  void check_count(std::uint64_t count, std::size_t entry_bytes) const {
    if (entry_bytes != 0 && count > remaining() / entry_bytes)
      fail("claims " + std::to_string(count) + " entries of " + std::to_string(entry_bytes) +
           " bytes but only " + std::to_string(remaining()) + " bytes remain");
  }
  [[noreturn]] void fail(const std::string& why) const { throw malformed_message(what_ + " " + why); }

private:
  std::span<const std::byte> take(std::size_t n) {
    if (n > bytes_.size() - at_)
      fail("is truncated: needs " + std::to_string(at_ + n) + " bytes, has " + std::to_string(bytes_.size()));
    const auto out = bytes_.subspan(at_, n);
    at_ += n;
    return out;
  }
  std::span<const std::byte> bytes_;
  std::size_t at_ = 0;
  std::string what_;
};

/// Largest payload of one vertical protocol message (64 GiB: far above 10^8 ids or ciphertexts).
inline constexpr std::size_t max_payload_bytes = std::size_t{1} << 36;

/// The control message wire::encode_control(round, sender, tag, payload) builds, byte for byte
/// (the vertical tests compare them), written here with the payload size bounded first: GCC 12 at
/// -O3 reports a spurious -Warray-bounds in wire::detail::build_message where it cannot bound
/// header + payload (it assumes the sum may wrap to an empty buffer).
inline message control_message(std::uint64_t round, endpoint_id sender, std::uint32_t tag,
                               std::span<const std::byte> payload) {
  if (payload.size() > max_payload_bytes)
    throw invalid_config("vertical: a payload of " + std::to_string(payload.size()) + " bytes exceeds " +
                         std::to_string(max_payload_bytes));
  wire::message_header h;
  h.kind = wire::message_kind::control;
  h.encoding = wire::payload_encoding::raw_bytes;
  h.type = dtype::u8;
  h.tag = tag;
  h.round = round;
  h.sender = sender;
  h.element_count = payload.size();
  h.total_payload_bytes = payload.size();
  h.payload_bytes = payload.size();
  constexpr std::size_t offset = wire::detail::payload_offset(0);
  fedpp::detail::aligned_buffer<std::byte> buffer(offset + payload.size()); // zeroed
  std::byte* p = buffer.data();
  wire::detail::write_header(p, h, 0);
  if (!payload.empty()) std::memcpy(p + offset, payload.data(), payload.size());
  wire::detail::put_u32(p + 92, wire::detail::message_checksum(buffer.span()));
  return message(std::move(buffer));
}

} // namespace fedpp::vertical::detail
