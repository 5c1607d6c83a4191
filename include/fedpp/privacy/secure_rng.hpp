/// \file secure_rng.hpp
/// Cryptographically secure generator for privacy noise: the ChaCha20 stream (RFC 8439, implemented
/// here from the RFC and checked against its test vector and libsodium), keyed with 256 bits from
/// the operating system (getrandom(2), else std::random_device). Blocks are computed 16 at a time in
/// plain loops the compiler vectorizes. A reproducible generator for tests and simulation exists
/// but only through `secure_rng::reproducible(reproducible_seed{...})`: a distinct named factory
/// taking a tag type with an explicit constructor, so it cannot be reached by accident.
#pragma once

#include "fedpp/error.hpp"

#include <array>
#include <bit>
#include <cstdint>
#include <cstring>
#include <random>
#include <span>
#include <string>

#if defined(__linux__)
#include <sys/random.h>
#endif

namespace fedpp::privacy {

/// A seed for secure_rng::reproducible: NOT secret randomness; only for tests and simulations.
struct reproducible_seed {
  /// Wraps a 64-bit seed (explicit: no implicit conversion from an integer).
  explicit constexpr reproducible_seed(std::uint64_t v) noexcept : value(v) {}
  std::uint64_t value; ///< the seed
};

namespace detail {

/// The ChaCha20 block function of RFC 8439 §2.3 on `lanes` consecutive counters at once.
/// `out` receives lanes × 16 words, block by block.
template <std::size_t Lanes>
inline void chacha20_blocks(const std::array<std::uint32_t, 8>& key,
                            const std::array<std::uint32_t, 3>& nonce, std::uint32_t counter,
                            std::uint32_t* out) noexcept {
  std::uint32_t x[16][Lanes], in[16][Lanes];
  for (std::size_t l = 0; l < Lanes; ++l) {
    in[0][l] = 0x61707865u;
    in[1][l] = 0x3320646eu;
    in[2][l] = 0x79622d32u;
    in[3][l] = 0x6b206574u;
    for (int i = 0; i < 8; ++i) in[4 + i][l] = key[static_cast<std::size_t>(i)];
    in[12][l] = counter + static_cast<std::uint32_t>(l);
    for (int i = 0; i < 3; ++i) in[13 + i][l] = nonce[static_cast<std::size_t>(i)];
  }
  std::memcpy(x, in, sizeof x);
  auto qr = [&x](int a, int b, int c, int d) {
    for (std::size_t l = 0; l < Lanes; ++l) {
      x[a][l] += x[b][l];
      x[d][l] = std::rotl(x[d][l] ^ x[a][l], 16);
      x[c][l] += x[d][l];
      x[b][l] = std::rotl(x[b][l] ^ x[c][l], 12);
      x[a][l] += x[b][l];
      x[d][l] = std::rotl(x[d][l] ^ x[a][l], 8);
      x[c][l] += x[d][l];
      x[b][l] = std::rotl(x[b][l] ^ x[c][l], 7);
    }
  };
  for (int round = 0; round < 10; ++round) {
    qr(0, 4, 8, 12);
    qr(1, 5, 9, 13);
    qr(2, 6, 10, 14);
    qr(3, 7, 11, 15);
    qr(0, 5, 10, 15);
    qr(1, 6, 11, 12);
    qr(2, 7, 8, 13);
    qr(3, 4, 9, 14);
  }
  for (std::size_t l = 0; l < Lanes; ++l)
    for (int i = 0; i < 16; ++i) out[l * 16 + static_cast<std::size_t>(i)] = x[i][l] + in[i][l];
}

inline void os_random_bytes(void* dst, std::size_t n) {
  auto* p = static_cast<unsigned char*>(dst);
#if defined(__linux__)
  std::size_t done = 0;
  while (done < n) {
    const ssize_t got = ::getrandom(p + done, n - done, 0);
    if (got <= 0) break;
    done += static_cast<std::size_t>(got);
  }
  if (done == n) return;
#endif
  std::random_device device; // the fallback: the platform's non-deterministic source
  for (std::size_t i = 0; i < n; ++i) p[i] = static_cast<unsigned char>(device());
}

} // namespace detail

/// ChaCha20-based CSPRNG (satisfies std::uniform_random_bit_generator with 32-bit results).
class secure_rng {
public:
  using result_type = std::uint32_t;
  static constexpr std::size_t lanes = 16;                ///< blocks per refill
  static constexpr std::size_t buffer_words = lanes * 16; ///< words per refill

  /// Keyed with 256 fresh bits from the operating system; nonce from the OS too.
  secure_rng() {
    std::array<unsigned char, 44> seed{};
    detail::os_random_bytes(seed.data(), seed.size());
    std::memcpy(key_.data(), seed.data(), 32);
    std::memcpy(nonce_.data(), seed.data() + 32, 12);
  }

  /// A generator with an explicit key and nonce (e.g. from libsodium's randombytes_buf, or the RFC
  /// test vectors); the block counter starts at `counter`.
  secure_rng(const std::array<std::uint32_t, 8>& key, const std::array<std::uint32_t, 3>& nonce,
             std::uint32_t counter = 0) noexcept
      : key_(key), nonce_(nonce), counter_(counter) {}

  /// Reproducible stream for tests and simulations ONLY: the key is derived from the seed, so the
  /// noise is predictable by anyone who knows it. Never use for a real privacy guarantee.
  [[nodiscard]] static secure_rng reproducible(reproducible_seed seed) noexcept {
    std::array<std::uint32_t, 8> key{};
    std::uint64_t s = seed.value;
    for (std::size_t i = 0; i < 8; i += 2) { // splitmix64 expansion of the seed
      s += 0x9e3779b97f4a7c15ULL;
      std::uint64_t z = s;
      z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
      z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
      z ^= z >> 31;
      key[i] = static_cast<std::uint32_t>(z);
      key[i + 1] = static_cast<std::uint32_t>(z >> 32);
    }
    secure_rng g(key, {0x66656470u, 0x702d7265u, 0x70726f64u}); // nonce "fedpp-reprod"
    g.reproducible_ = true;
    return g;
  }

  static constexpr result_type min() noexcept { return 0; }
  static constexpr result_type max() noexcept { return 0xffffffffu; }

  /// Next 32 random bits.
  result_type operator()() noexcept {
    if (pos_ == buffer_words) refill();
    return buffer_[pos_++];
  }

  /// Next 64 random bits.
  std::uint64_t next_u64() noexcept {
    const std::uint64_t lo = (*this)();
    return lo | (static_cast<std::uint64_t>((*this)()) << 32);
  }

  /// Uniform double in [0, 1) with 53 bits.
  double uniform() noexcept { return static_cast<double>(next_u64() >> 11) * 0x1.0p-53; }

  /// Fills `out` with random words (whole blocks straight from the keystream).
  void fill(std::span<std::uint32_t> out) noexcept {
    std::size_t i = 0;
    while (i < out.size() && pos_ < buffer_words) out[i++] = buffer_[pos_++];
    while (out.size() - i >= buffer_words) {
      detail::chacha20_blocks<lanes>(key_, nonce_, counter_, out.data() + i);
      advance();
      i += buffer_words;
    }
    while (i < out.size()) out[i++] = (*this)();
  }

  /// True for generators made by reproducible(): their output is predictable.
  [[nodiscard]] bool is_reproducible() const noexcept { return reproducible_; }

private:
  void advance() noexcept {
    counter_ += static_cast<std::uint32_t>(lanes);
    if (counter_ < lanes) { // the 32-bit block counter wrapped: move to a fresh nonce (2^38 bytes each)
      ++nonce_[0];
    }
  }
  void refill() noexcept {
    detail::chacha20_blocks<lanes>(key_, nonce_, counter_, buffer_.data());
    advance();
    pos_ = 0;
  }

  std::array<std::uint32_t, 8> key_{};
  std::array<std::uint32_t, 3> nonce_{};
  std::uint32_t counter_ = 0;
  std::array<std::uint32_t, buffer_words> buffer_{};
  std::size_t pos_ = buffer_words;
  bool reproducible_ = false;
};

static_assert(std::uniform_random_bit_generator<secure_rng>);

} // namespace fedpp::privacy
