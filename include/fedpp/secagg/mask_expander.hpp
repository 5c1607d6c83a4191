/// \file mask_expander.hpp
/// Expands a 32-byte seed into a pseudo-random mask with ChaCha20 (RFC 8439, libsodium's
/// crypto_stream_chacha20_ietf) and adds or subtracts it, modulo 2^32, straight into an
/// accumulator. The keystream is produced in 4 KiB blocks that stay in L1 and are folded into the
/// accumulator at once, so the mask never exists as a whole vector.
///
/// Word i of the mask is keystream bytes 4i … 4i+3 read little-endian, for the key `seed` and the
/// 96-bit nonce (stream id as 8 little-endian bytes, then 4 zero bytes); the block counter starts
/// at 0, so one (seed, stream) pair gives at most 2^32 blocks = 2^36 words.
#pragma once

#include "fedpp/error.hpp"
#include "fedpp/secagg/detail/sodium.hpp"

#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>

namespace fedpp::secagg {

/// Seed-to-mask expansion; stateless.
class mask_expander {
public:
  /// Words per keystream block handed to libsodium (4 KiB: L1-resident).
  static constexpr std::size_t block_words = 1024;
  /// Longest mask one (seed, stream) pair can give.
  static constexpr std::uint64_t max_words = std::uint64_t{1} << 36;

  /// acc[i] += mask[i] (or −= when `subtract`), modulo 2^32.
  static void apply(std::span<std::uint32_t> acc, const key32& seed, std::uint64_t stream,
                    bool subtract) {
    if (acc.size() > max_words)
      throw invalid_config("mask_expander: " + std::to_string(acc.size()) +
                           " words exceed the 2^36 a ChaCha20 stream gives");
    detail::ensure_sodium();
    std::array<unsigned char, crypto_stream_chacha20_ietf_NONCEBYTES> nonce{};
    for (std::size_t i = 0; i < 8; ++i) nonce[i] = static_cast<unsigned char>((stream >> (8 * i)) & 0xffU);
    alignas(64) static constexpr std::array<unsigned char, block_words * 4> zeros{};
    alignas(64) std::array<std::uint32_t, block_words> block;
    std::uint32_t counter = 0;
    for (std::size_t at = 0; at < acc.size(); at += block_words) {
      const std::size_t n = acc.size() - at < block_words ? acc.size() - at : block_words;
      // xor with zeros = the keystream; libsodium has no plain "_ic" keystream call.
      crypto_stream_chacha20_ietf_xor_ic(reinterpret_cast<unsigned char*>(block.data()), zeros.data(), n * 4,
                                         nonce.data(), counter, detail::uc(seed.data()));
      counter += static_cast<std::uint32_t>(block_words * 4 / 64);
      if constexpr (std::endian::native == std::endian::big)
        for (std::size_t i = 0; i < n; ++i) block[i] = byteswap(block[i]);
      std::uint32_t* a = acc.data() + at;
      if (subtract) {
        for (std::size_t i = 0; i < n; ++i) a[i] -= block[i];
      } else {
        for (std::size_t i = 0; i < n; ++i) a[i] += block[i];
      }
    }
    detail::wipe(block.data(), sizeof(block));
  }

private:
  static constexpr std::uint32_t byteswap(std::uint32_t v) noexcept {
    return (v >> 24) | ((v >> 8) & 0xff00U) | ((v << 8) & 0xff0000U) | (v << 24);
  }
};

} // namespace fedpp::secagg
