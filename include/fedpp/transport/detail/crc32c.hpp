/// \file crc32c.hpp
/// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), the checksum of the wire format.
///
/// Two implementations with identical results: table-driven slicing-by-8 (portable, 8 table
/// look-ups per 8 bytes, Kounavis & Berry, "A Systematic Approach to Building High Performance
/// Software-based CRC Generators", 2005) and the SSE4.2 `crc32` instruction, chosen at run time
/// on x86-64 (FEDPP_RUNTIME_DISPATCH) or at compile time when the flags already enable SSE4.2.
/// The SSE4.2 path runs three independent streams over thirds of each block (the instruction
/// has a latency of 3 cycles and a throughput of 1) and merges them with the "shift by n zero
/// bytes" operator, the GF(2) matrix method of zlib's crc32_combine.
#pragma once

#include "fedpp/config.hpp"

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <nmmintrin.h>
#define FEDPP_CRC32C_X86 1
#else
#define FEDPP_CRC32C_X86 0
#endif

namespace fedpp::detail {

inline constexpr std::uint32_t crc32c_polynomial = 0x82F63B78U; // reflected 0x1EDC6F41

/// tables[k][b]: CRC of byte b followed by k zero bytes (slicing-by-8).
inline constexpr auto crc32c_tables = [] {
  std::array<std::array<std::uint32_t, 256>, 8> t{};
  for (std::uint32_t b = 0; b < 256; ++b) {
    std::uint32_t c = b;
    for (int i = 0; i < 8; ++i) c = (c & 1U) != 0 ? (c >> 1) ^ crc32c_polynomial : c >> 1;
    t[0][b] = c;
  }
  for (std::size_t k = 1; k < 8; ++k)
    for (std::size_t b = 0; b < 256; ++b) t[k][b] = (t[k - 1][b] >> 8) ^ t[0][t[k - 1][b] & 0xffU];
  return t;
}();

inline std::uint32_t load_le32(const unsigned char* p) noexcept {
  return static_cast<std::uint32_t>(p[0]) | (static_cast<std::uint32_t>(p[1]) << 8) |
         (static_cast<std::uint32_t>(p[2]) << 16) | (static_cast<std::uint32_t>(p[3]) << 24);
}

/// Raw (pre/post-inversion left to the caller) CRC update, slicing-by-8.
inline std::uint32_t crc32c_update_portable(std::uint32_t crc, const unsigned char* p,
                                            std::size_t n) noexcept {
  const auto& t = crc32c_tables;
  while (n >= 8) {
    const std::uint32_t lo = load_le32(p) ^ crc;
    const std::uint32_t hi = load_le32(p + 4);
    crc = t[7][lo & 0xffU] ^ t[6][(lo >> 8) & 0xffU] ^ t[5][(lo >> 16) & 0xffU] ^ t[4][lo >> 24] ^
          t[3][hi & 0xffU] ^ t[2][(hi >> 8) & 0xffU] ^ t[1][(hi >> 16) & 0xffU] ^ t[0][hi >> 24];
    p += 8;
    n -= 8;
  }
  while (n-- != 0) crc = (crc >> 8) ^ t[0][(crc ^ *p++) & 0xffU];
  return crc;
}

/// 32x32 GF(2) matrix applied to a vector (column i = image of bit i).
inline std::uint32_t gf2_times(const std::array<std::uint32_t, 32>& m, std::uint32_t v) noexcept {
  std::uint32_t r = 0;
  for (std::size_t i = 0; v != 0; ++i, v >>= 1)
    if ((v & 1U) != 0) r ^= m[i];
  return r;
}

inline std::array<std::uint32_t, 32> gf2_square(const std::array<std::uint32_t, 32>& m) noexcept {
  std::array<std::uint32_t, 32> r{};
  for (std::size_t i = 0; i < 32; ++i) r[i] = gf2_times(m, m[i]);
  return r;
}

/// The linear operator "append n zero bytes" on a raw CRC register, as a 32x32 matrix.
inline std::array<std::uint32_t, 32> crc32c_zeros_operator(std::size_t n) noexcept {
  std::array<std::uint32_t, 32> one_bit{}; // one zero bit
  one_bit[0] = crc32c_polynomial;
  for (std::size_t i = 1; i < 32; ++i) one_bit[i] = 1U << (i - 1);
  auto power = gf2_square(gf2_square(gf2_square(one_bit))); // one zero byte
  std::array<std::uint32_t, 32> result{};
  for (std::size_t i = 0; i < 32; ++i) result[i] = 1U << i; // identity
  while (n != 0) {
    if ((n & 1U) != 0) {
      std::array<std::uint32_t, 32> next{};
      for (std::size_t i = 0; i < 32; ++i) next[i] = gf2_times(power, result[i]);
      result = next;
    }
    n >>= 1;
    if (n != 0) power = gf2_square(power);
  }
  return result;
}

#if FEDPP_CRC32C_X86
/// Bytes per stream in one block of the three-stream SSE4.2 loop.
inline constexpr std::size_t crc32c_stream_bytes = 4096;

/// Shifts by crc32c_stream_bytes zero bytes, as 4 byte-indexed tables (built once).
inline const std::array<std::array<std::uint32_t, 256>, 4>& crc32c_shift_tables() noexcept {
  static const auto tables = [] {
    const auto m = crc32c_zeros_operator(crc32c_stream_bytes);
    std::array<std::array<std::uint32_t, 256>, 4> t{};
    for (std::uint32_t k = 0; k < 4; ++k)
      for (std::uint32_t b = 0; b < 256; ++b) t[k][b] = gf2_times(m, b << (8 * k));
    return t;
  }();
  return tables;
}

inline std::uint32_t crc32c_shift(std::uint32_t crc) noexcept {
  const auto& t = crc32c_shift_tables();
  return t[0][crc & 0xffU] ^ t[1][(crc >> 8) & 0xffU] ^ t[2][(crc >> 16) & 0xffU] ^ t[3][crc >> 24];
}

__attribute__((target("sse4.2"))) inline std::uint32_t
crc32c_update_sse42(std::uint32_t crc, const unsigned char* p, std::size_t n) noexcept {
  constexpr std::size_t s = crc32c_stream_bytes;
  std::uint64_t c0 = crc;
  while (n >= 3 * s) {
    std::uint64_t c1 = 0;
    std::uint64_t c2 = 0;
    for (std::size_t i = 0; i < s; i += 8) {
      std::uint64_t a = 0;
      std::uint64_t b = 0;
      std::uint64_t d = 0;
      std::memcpy(&a, p + i, 8);
      std::memcpy(&b, p + s + i, 8);
      std::memcpy(&d, p + 2 * s + i, 8);
      c0 = _mm_crc32_u64(c0, a);
      c1 = _mm_crc32_u64(c1, b);
      c2 = _mm_crc32_u64(c2, d);
    }
    // crc(A B C) = shift(shift(crc(A)) ^ crc'(B)) ^ crc'(C), crc' started from 0.
    std::uint32_t r = crc32c_shift(static_cast<std::uint32_t>(c0)) ^ static_cast<std::uint32_t>(c1);
    r = crc32c_shift(r) ^ static_cast<std::uint32_t>(c2);
    c0 = r;
    p += 3 * s;
    n -= 3 * s;
  }
  while (n >= 8) {
    std::uint64_t a = 0;
    std::memcpy(&a, p, 8);
    c0 = _mm_crc32_u64(c0, a);
    p += 8;
    n -= 8;
  }
  auto c = static_cast<std::uint32_t>(c0);
  while (n-- != 0) c = _mm_crc32_u8(c, *p++);
  return c;
}

inline bool crc32c_have_sse42() noexcept {
#if defined(__SSE4_2__)
  return true;
#elif FEDPP_RUNTIME_DISPATCH
  static const bool have = __builtin_cpu_supports("sse4.2") != 0;
  return have;
#else
  return false;
#endif
}
#endif

/// Which implementation crc32c() uses on this machine ("sse4.2" or "slicing-by-8").
[[nodiscard]] inline const char* crc32c_implementation() noexcept {
#if FEDPP_CRC32C_X86
  if (crc32c_have_sse42()) return "sse4.2";
#endif
  return "slicing-by-8";
}

/// Continues a CRC-32C: `crc32c(b, crc32c(a))` equals `crc32c(a ++ b)`; start from 0.
[[nodiscard]] inline std::uint32_t crc32c(std::span<const std::byte> bytes, std::uint32_t crc = 0) noexcept {
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  std::uint32_t c = ~crc;
#if FEDPP_CRC32C_X86
  if (crc32c_have_sse42()) return ~crc32c_update_sse42(c, p, bytes.size());
#endif
  c = crc32c_update_portable(c, p, bytes.size());
  return ~c;
}

/// The portable path alone (for tests and measurements).
[[nodiscard]] inline std::uint32_t crc32c_portable(std::span<const std::byte> bytes,
                                                   std::uint32_t crc = 0) noexcept {
  return ~crc32c_update_portable(~crc, reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size());
}

} // namespace fedpp::detail

#undef FEDPP_CRC32C_X86
