/// \file payload_io.hpp
/// Bounds-checked little-endian reading and writing of compressed payloads, LEB128 varints.
#pragma once

#include "fedpp/error.hpp"

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <vector>

namespace fedpp::compression::detail {

[[noreturn]] inline void malformed(const std::string& what) {
  throw malformed_message("compressed payload: " + what);
}

/// Writes v little-endian at p (4 bytes).
inline void store_le(std::byte* p, std::uint32_t v) noexcept {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<std::byte>((v >> (8 * i)) & 0xffU);
}

/// Reads the little-endian float at p (4 bytes the caller has bounds-checked).
[[nodiscard]] inline float load_le_f32(const std::byte* p) noexcept {
  std::uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | std::to_integer<std::uint32_t>(p[i]);
  return std::bit_cast<float>(v);
}

/// Appends little-endian fields to a byte vector.
class byte_writer {
public:
  explicit byte_writer(std::vector<std::byte>& out) : out_(&out) {}
  void u8(std::uint8_t v) { out_->push_back(static_cast<std::byte>(v)); }
  void u16(std::uint16_t v) { put(v, 2); }
  void u32(std::uint32_t v) { put(v, 4); }
  void u64(std::uint64_t v) { put(v, 8); }
  void f32(float v) { u32(std::bit_cast<std::uint32_t>(v)); }
  /// LEB128: 7 bits per byte, high bit = more bytes follow.
  void varint(std::uint64_t v) {
    while (v >= 0x80) {
      u8(static_cast<std::uint8_t>(v | 0x80));
      v >>= 7;
    }
    u8(static_cast<std::uint8_t>(v));
  }
  /// Grows the vector by n bytes and returns where they start.
  std::byte* grow(std::size_t n) {
    const auto at = out_->size();
    out_->resize(at + n);
    return out_->data() + at;
  }

private:
  void put(std::uint64_t v, int n) {
    for (int i = 0; i < n; ++i) out_->push_back(static_cast<std::byte>((v >> (8 * i)) & 0xffU));
  }
  std::vector<std::byte>* out_;
};

/// Reads little-endian fields, never past the end: every shortfall throws malformed_message
/// naming the field, the offset and the bytes left.
class byte_reader {
public:
  explicit byte_reader(std::span<const std::byte> bytes) : bytes_(bytes) {}
  std::uint8_t u8(const char* what) { return std::to_integer<std::uint8_t>(*take(1, what)); }
  std::uint16_t u16(const char* what) { return static_cast<std::uint16_t>(get(take(2, what), 2)); }
  std::uint32_t u32(const char* what) { return static_cast<std::uint32_t>(get(take(4, what), 4)); }
  std::uint64_t u64(const char* what) { return get(take(8, what), 8); }
  float f32(const char* what) { return std::bit_cast<float>(u32(what)); }
  /// A LEB128 varint of at most 10 bytes whose value fits 64 bits.
  std::uint64_t varint(const char* what) {
    std::uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      const std::uint64_t b = u8(what);
      if (shift == 63 && b > 1) malformed(std::string(what) + ": varint overflows 64 bits at offset " + at());
      v |= (b & 0x7fU) << shift;
      if ((b & 0x80U) == 0) return v;
    }
    malformed(std::string(what) + ": varint longer than 10 bytes at offset " + at());
  }
  /// The next n bytes.
  std::span<const std::byte> bytes(std::size_t n, const char* what) { return {take(n, what), n}; }
  [[nodiscard]] std::size_t remaining() const noexcept { return bytes_.size() - pos_; }
  [[nodiscard]] std::size_t position() const noexcept { return pos_; }
  void expect_end() const {
    if (pos_ != bytes_.size())
      malformed(std::to_string(bytes_.size() - pos_) + " trailing bytes after offset " + at());
  }

private:
  [[nodiscard]] std::string at() const { return std::to_string(pos_); }
  const std::byte* take(std::size_t n, const char* what) {
    if (n > bytes_.size() - pos_)
      malformed(std::string("truncated: ") + what + " at offset " + at() + " needs " + std::to_string(n) +
                " bytes, only " + std::to_string(bytes_.size() - pos_) + " left");
    const auto* p = bytes_.data() + pos_;
    pos_ += n;
    return p;
  }
  static std::uint64_t get(const std::byte* p, int n) noexcept {
    std::uint64_t v = 0;
    for (int i = n - 1; i >= 0; --i) v = (v << 8) | std::to_integer<std::uint64_t>(p[i]);
    return v;
  }
  std::span<const std::byte> bytes_;
  std::size_t pos_ = 0;
};

/// Bytes of v as a LEB128 varint.
[[nodiscard]] constexpr std::size_t varint_size(std::uint64_t v) noexcept {
  std::size_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    ++n;
  }
  return n;
}

} // namespace fedpp::compression::detail
