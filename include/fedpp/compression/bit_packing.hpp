/// \file bit_packing.hpp
/// Packs b-bit codes (1 ≤ b ≤ 8) into a dense little-endian bit stream and back: code i occupies
/// bits [i·b, (i+1)·b) of the stream, least significant bit first; the last byte is zero-padded.
#pragma once

#include "fedpp/error.hpp"

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

namespace fedpp::compression {

/// Bytes that n codes of `bits` bits occupy once packed.
[[nodiscard]] constexpr std::size_t packed_bytes(std::size_t n, unsigned bits) noexcept {
  return (n / 8) * bits + ((n % 8) * bits + 7) / 8;
}

namespace detail {
inline void check_bits(unsigned bits, const char* who) {
  if (bits < 1 || bits > 8)
    throw invalid_config(std::string(who) + ": bit width " + std::to_string(bits) + " is not in [1, 8]");
}
} // namespace detail

/// Packs `codes` (each < 2^bits; higher bits are ignored) into `out`, which must hold
/// packed_bytes(codes.size(), bits) bytes. Widths 1, 2, 4, 8 take a fast path.
inline void pack_bits(std::span<const std::uint8_t> codes, unsigned bits, std::span<std::byte> out) {
  detail::check_bits(bits, "pack_bits");
  const std::size_t n = codes.size();
  if (out.size() < packed_bytes(n, bits))
    throw invalid_config("pack_bits: " + std::to_string(n) + " codes of " + std::to_string(bits) +
                         " bits need " + std::to_string(packed_bytes(n, bits)) + " bytes, the output has " +
                         std::to_string(out.size()));
  const std::uint8_t* c = codes.data();
  auto* o = reinterpret_cast<std::uint8_t*>(out.data());
  const unsigned mask = (1U << bits) - 1U;
  if (bits == 8) {
    for (std::size_t i = 0; i < n; ++i) o[i] = c[i];
    return;
  }
  if (8 % bits == 0) { // 1, 2, 4: whole codes per byte
    const unsigned per = 8 / bits;
    const std::size_t full = n / per;
    for (std::size_t b = 0; b < full; ++b) {
      unsigned v = 0;
      for (unsigned j = 0; j < per; ++j) v |= (c[b * per + j] & mask) << (j * bits);
      o[b] = static_cast<std::uint8_t>(v);
    }
    if (full * per < n) {
      unsigned v = 0;
      for (std::size_t i = full * per; i < n; ++i) v |= (c[i] & mask) << ((i - full * per) * bits);
      o[full] = static_cast<std::uint8_t>(v);
    }
    return;
  }
  std::uint32_t acc = 0; // bit accumulator: never more than 7 + 8 bits pending
  unsigned pending = 0;
  std::size_t w = 0;
  for (std::size_t i = 0; i < n; ++i) {
    acc |= (c[i] & mask) << pending;
    pending += bits;
    while (pending >= 8) {
      o[w++] = static_cast<std::uint8_t>(acc);
      acc >>= 8;
      pending -= 8;
    }
  }
  if (pending > 0) o[w] = static_cast<std::uint8_t>(acc);
}

/// Unpacks n codes of `bits` bits from `in` (which must hold packed_bytes(n, bits) bytes) into `codes`.
inline void unpack_bits(std::span<const std::byte> in, unsigned bits, std::span<std::uint8_t> codes) {
  detail::check_bits(bits, "unpack_bits");
  const std::size_t n = codes.size();
  if (in.size() < packed_bytes(n, bits))
    throw invalid_config("unpack_bits: " + std::to_string(n) + " codes of " + std::to_string(bits) +
                         " bits need " + std::to_string(packed_bytes(n, bits)) + " bytes, the input has " +
                         std::to_string(in.size()));
  const auto* p = reinterpret_cast<const std::uint8_t*>(in.data());
  std::uint8_t* c = codes.data();
  const unsigned mask = (1U << bits) - 1U;
  if (bits == 8) {
    for (std::size_t i = 0; i < n; ++i) c[i] = p[i];
    return;
  }
  if (8 % bits == 0) {
    const unsigned per = 8 / bits;
    for (std::size_t i = 0; i < n; ++i)
      c[i] = static_cast<std::uint8_t>((p[i / per] >> ((i % per) * bits)) & mask);
    return;
  }
  std::uint32_t acc = 0;
  unsigned have = 0;
  std::size_t r = 0;
  for (std::size_t i = 0; i < n; ++i) {
    if (have < bits) {
      acc |= static_cast<std::uint32_t>(p[r++]) << have;
      have += 8;
    }
    c[i] = static_cast<std::uint8_t>(acc & mask);
    acc >>= bits;
    have -= bits;
  }
}

} // namespace fedpp::compression
