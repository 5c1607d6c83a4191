/// \file secure_rng.hpp
/// Cryptographically secure generator for privacy noise: the ChaCha20 stream (RFC 8439, implemented
/// here from the RFC and checked against its test vector and libsodium), keyed with 256 bits from
/// the operating system (getrandom(2), else std::random_device). Blocks are computed 16 at a time:
/// in AVX-512 registers (16 lanes), as two AVX2 halves (8 lanes), or by the scalar reference loop,
/// chosen at run time (detail/simd_path.hpp); all three give the same words (tested against the RFC
/// vectors and each other). A reproducible generator for tests and simulation exists
/// but only through `secure_rng::reproducible(reproducible_seed{...})`: a distinct named factory
/// taking a tag type with an explicit constructor, so it cannot be reached by accident.
#pragma once

#include "fedpp/detail/state_io.hpp"
#include "fedpp/error.hpp"
#include "fedpp/privacy/detail/simd_path.hpp"

#include <array>
#include <bit>
#include <cstdint>
#include <cstring>
#include <random>
#include <span>
#include <string>
#include <vector>

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

/// Lane-interleaved layout of 16 blocks: word i of block l (counter + l) at out[i·16 + l].
inline constexpr std::size_t interleaved_words = 256;

/// Scalar reference of the interleaved layout (the RFC block function, then a transpose).
inline void chacha20_interleaved_scalar(const std::array<std::uint32_t, 8>& key,
                                        const std::array<std::uint32_t, 3>& nonce, std::uint32_t counter,
                                        std::uint32_t* out) noexcept {
  std::uint32_t blocks[interleaved_words];
  chacha20_blocks<16>(key, nonce, counter, blocks);
  for (std::size_t l = 0; l < 16; ++l)
    for (std::size_t i = 0; i < 16; ++i) out[i * 16 + l] = blocks[l * 16 + i];
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
// One ChaCha quarter round on lane vectors x##a … x##d (RFC 8439 §2.1; x names the state: x0 … x15
// or y0 … y15); rotations by shifts, which the compiler turns into vprold on AVX-512.
#define FEDPP_CHACHA_QR(x, a, b, c, d)                                                                       \
  x##a += x##b;                                                                                              \
  x##d ^= x##a;                                                                                              \
  x##d = (x##d << 16) | (x##d >> 16);                                                                        \
  x##c += x##d;                                                                                              \
  x##b ^= x##c;                                                                                              \
  x##b = (x##b << 12) | (x##b >> 20);                                                                        \
  x##a += x##b;                                                                                              \
  x##d ^= x##a;                                                                                              \
  x##d = (x##d << 8) | (x##d >> 24);                                                                         \
  x##c += x##d;                                                                                              \
  x##b ^= x##c;                                                                                              \
  x##b = (x##b << 7) | (x##b >> 25)

// One add-xor-rotate step (p += q; r ^= p; r <<<= n) of the four quarter rounds of a half round,
// in both states x and y. Used step by step across the eight independent quarter rounds, not one
// quarter round after another, so that neighbouring instructions do not depend on each other and
// the scheduler is not filled with one waiting chain (pair keystream 11.4 -> 11.8 GB/s on Zen 5).
#define FEDPP_CHACHA_ROTL(v, n) ((v) = ((v) << (n)) | ((v) >> (32 - (n))))
#define FEDPP_CHACHA_STEP2(p0, q0, r0, p1, q1, r1, p2, q2, r2, p3, q3, r3, n)                                \
  x##p0 += x##q0, y##p0 += y##q0, x##p1 += x##q1, y##p1 += y##q1;                                            \
  x##p2 += x##q2, y##p2 += y##q2, x##p3 += x##q3, y##p3 += y##q3;                                            \
  x##r0 ^= x##p0, y##r0 ^= y##p0, x##r1 ^= x##p1, y##r1 ^= y##p1;                                            \
  x##r2 ^= x##p2, y##r2 ^= y##p2, x##r3 ^= x##p3, y##r3 ^= y##p3;                                            \
  FEDPP_CHACHA_ROTL(x##r0, n), FEDPP_CHACHA_ROTL(y##r0, n), FEDPP_CHACHA_ROTL(x##r1, n);                     \
  FEDPP_CHACHA_ROTL(y##r1, n), FEDPP_CHACHA_ROTL(x##r2, n), FEDPP_CHACHA_ROTL(y##r2, n);                     \
  FEDPP_CHACHA_ROTL(x##r3, n), FEDPP_CHACHA_ROTL(y##r3, n)

/// sizeof(V)/4 blocks at counters counter, counter + 1, …; word i of lane l goes to out[i·16 + l].
/// Inlined into the target-specific wrappers below, which give it its instruction set.
template <class V>
[[gnu::always_inline]] inline void chacha20_lanes(const std::uint32_t* key, const std::uint32_t* nonce,
                                                  std::uint32_t counter, std::uint32_t* out) noexcept {
  constexpr std::size_t lanes = sizeof(V) / 4;
  const V zero{};
  V ctr = zero;
  for (std::size_t l = 0; l < lanes; ++l) ctr[l] = counter + static_cast<std::uint32_t>(l);
  const V i0 = zero + 0x61707865u, i1 = zero + 0x3320646eu, i2 = zero + 0x79622d32u, i3 = zero + 0x6b206574u,
          i4 = zero + key[0], i5 = zero + key[1], i6 = zero + key[2], i7 = zero + key[3], i8 = zero + key[4],
          i9 = zero + key[5], i10 = zero + key[6], i11 = zero + key[7], i12 = ctr, i13 = zero + nonce[0],
          i14 = zero + nonce[1], i15 = zero + nonce[2];
  V x0 = i0, x1 = i1, x2 = i2, x3 = i3, x4 = i4, x5 = i5, x6 = i6, x7 = i7, x8 = i8, x9 = i9, x10 = i10,
    x11 = i11, x12 = i12, x13 = i13, x14 = i14, x15 = i15;
  for (int round = 0; round < 10; ++round) {
    FEDPP_CHACHA_QR(x, 0, 4, 8, 12);
    FEDPP_CHACHA_QR(x, 1, 5, 9, 13);
    FEDPP_CHACHA_QR(x, 2, 6, 10, 14);
    FEDPP_CHACHA_QR(x, 3, 7, 11, 15);
    FEDPP_CHACHA_QR(x, 0, 5, 10, 15);
    FEDPP_CHACHA_QR(x, 1, 6, 11, 12);
    FEDPP_CHACHA_QR(x, 2, 7, 8, 13);
    FEDPP_CHACHA_QR(x, 3, 4, 9, 14);
  }
  const V r[16] = {x0 + i0, x1 + i1, x2 + i2,   x3 + i3,   x4 + i4,   x5 + i5,   x6 + i6,   x7 + i7,
                   x8 + i8, x9 + i9, x10 + i10, x11 + i11, x12 + i12, x13 + i13, x14 + i14, x15 + i15};
  for (std::size_t i = 0; i < 16; ++i) std::memcpy(out + i * 16, &r[i], sizeof(V));
}

/// Two batches at once: sizeof(V)/4 blocks at `counter` into out[0 … 255] and as many at
/// counter + lanes into out[256 … 511], exactly what two chacha20_lanes calls write. The two
/// states are independent, so their quarter rounds interleave: each round is a chain of
/// dependent adds, xors and rotates, and one state alone leaves vector units idle (AVX-512 on
/// Zen 5: 8.4 GB/s for one state, 12.8 GB/s for two).
template <class V>
[[gnu::always_inline]] inline void chacha20_lanes_x2(const std::uint32_t* key, const std::uint32_t* nonce,
                                                     std::uint32_t counter, std::uint32_t* out) noexcept {
  constexpr std::size_t lanes = sizeof(V) / 4;
  const V zero{};
  V ctr = zero;
  for (std::size_t l = 0; l < lanes; ++l) ctr[l] = counter + static_cast<std::uint32_t>(l);
  const V i0 = zero + 0x61707865u, i1 = zero + 0x3320646eu, i2 = zero + 0x79622d32u, i3 = zero + 0x6b206574u,
          i4 = zero + key[0], i5 = zero + key[1], i6 = zero + key[2], i7 = zero + key[3], i8 = zero + key[4],
          i9 = zero + key[5], i10 = zero + key[6], i11 = zero + key[7], i13 = zero + nonce[0],
          i14 = zero + nonce[1], i15 = zero + nonce[2];
  const V ictr[2] = {ctr, ctr + static_cast<std::uint32_t>(lanes)};
  V x0 = i0, x1 = i1, x2 = i2, x3 = i3, x4 = i4, x5 = i5, x6 = i6, x7 = i7, x8 = i8, x9 = i9, x10 = i10,
    x11 = i11, x12 = ictr[0], x13 = i13, x14 = i14, x15 = i15;
  V y0 = i0, y1 = i1, y2 = i2, y3 = i3, y4 = i4, y5 = i5, y6 = i6, y7 = i7, y8 = i8, y9 = i9, y10 = i10,
    y11 = i11, y12 = ictr[1], y13 = i13, y14 = i14, y15 = i15;
  for (int round = 0; round < 10; ++round) {
    FEDPP_CHACHA_STEP2(0, 4, 12, 1, 5, 13, 2, 6, 14, 3, 7, 15, 16);
    FEDPP_CHACHA_STEP2(8, 12, 4, 9, 13, 5, 10, 14, 6, 11, 15, 7, 12);
    FEDPP_CHACHA_STEP2(0, 4, 12, 1, 5, 13, 2, 6, 14, 3, 7, 15, 8);
    FEDPP_CHACHA_STEP2(8, 12, 4, 9, 13, 5, 10, 14, 6, 11, 15, 7, 7);
    FEDPP_CHACHA_STEP2(0, 5, 15, 1, 6, 12, 2, 7, 13, 3, 4, 14, 16);
    FEDPP_CHACHA_STEP2(10, 15, 5, 11, 12, 6, 8, 13, 7, 9, 14, 4, 12);
    FEDPP_CHACHA_STEP2(0, 5, 15, 1, 6, 12, 2, 7, 13, 3, 4, 14, 8);
    FEDPP_CHACHA_STEP2(10, 15, 5, 11, 12, 6, 8, 13, 7, 9, 14, 4, 7);
  }
  const V r[32] = {x0 + i0, x1 + i1, x2 + i2,   x3 + i3,   x4 + i4,       x5 + i5,   x6 + i6,   x7 + i7,
                   x8 + i8, x9 + i9, x10 + i10, x11 + i11, x12 + ictr[0], x13 + i13, x14 + i14, x15 + i15,
                   y0 + i0, y1 + i1, y2 + i2,   y3 + i3,   y4 + i4,       y5 + i5,   y6 + i6,   y7 + i7,
                   y8 + i8, y9 + i9, y10 + i10, y11 + i11, y12 + ictr[1], y13 + i13, y14 + i14, y15 + i15};
  for (std::size_t i = 0; i < 16; ++i) std::memcpy(out + i * 16, &r[i], sizeof(V));
  for (std::size_t i = 0; i < 16; ++i) std::memcpy(out + 256 + i * 16, &r[16 + i], sizeof(V));
}
#undef FEDPP_CHACHA_QR
#undef FEDPP_CHACHA_STEP2
#undef FEDPP_CHACHA_ROTL

/// 16 blocks in one pass of 16-lane AVX-512 registers.
__attribute__((target("avx512f"))) inline void
chacha20_interleaved_avx512(const std::array<std::uint32_t, 8>& key,
                            const std::array<std::uint32_t, 3>& nonce, std::uint32_t counter,
                            std::uint32_t* out) noexcept {
  chacha20_lanes<u32x16>(key.data(), nonce.data(), counter, out);
}

/// 32 blocks (two batches) in one pass of two interleaved 16-lane AVX-512 states.
__attribute__((target("avx512f"))) inline void
chacha20_interleaved_x2_avx512(const std::array<std::uint32_t, 8>& key,
                               const std::array<std::uint32_t, 3>& nonce, std::uint32_t counter,
                               std::uint32_t* out) noexcept {
  chacha20_lanes_x2<u32x16>(key.data(), nonce.data(), counter, out);
}

/// 16 blocks as two passes of 8-lane AVX2 registers.
__attribute__((target("avx2"))) inline void
chacha20_interleaved_avx2(const std::array<std::uint32_t, 8>& key, const std::array<std::uint32_t, 3>& nonce,
                          std::uint32_t counter, std::uint32_t* out) noexcept {
  chacha20_lanes<u32x8>(key.data(), nonce.data(), counter, out);
  chacha20_lanes<u32x8>(key.data(), nonce.data(), counter + 8u, out + 8);
}
#endif

/// The interleaved 16 blocks on the given path (the caller checked cpu_supports).
inline void chacha20_interleaved(simd_path path, const std::array<std::uint32_t, 8>& key,
                                 const std::array<std::uint32_t, 3>& nonce, std::uint32_t counter,
                                 std::uint32_t* out) noexcept {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
  if (path == simd_path::avx512) return chacha20_interleaved_avx512(key, nonce, counter, out);
  if (path == simd_path::avx2) return chacha20_interleaved_avx2(key, nonce, counter, out);
#endif
  (void)path;
  chacha20_interleaved_scalar(key, nonce, counter, out);
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
      block_order(out.data() + i);
      i += buffer_words;
    }
    while (i < out.size()) out[i++] = (*this)();
  }

  /// The next 16 keystream blocks (skipping what is left in the buffer of operator()) in the
  /// lane-interleaved layout: word i of the l-th block at out[i·16 + l]. A fixed permutation of the
  /// keystream, so just as secure; it is what the SIMD registers hold, and what the Gaussian
  /// sampler consumes without a transpose.
  void next_interleaved(std::span<std::uint32_t, buffer_words> out) noexcept {
    // a batch uses counters c … c + 15 and must not wrap the 32-bit counter onto blocks already
    // used: past the end, move to a fresh nonce (each nonce gives 2^38 bytes)
    constexpr std::uint32_t last_start = 0xffffffffu - (lanes - 1);
    if (counter_ > last_start) next_nonce();
    detail::chacha20_interleaved(detail::best_simd_path(), key_, nonce_, counter_, out.data());
    if (counter_ == last_start)
      next_nonce();
    else
      counter_ += static_cast<std::uint32_t>(lanes);
  }

  /// The next two batches of next_interleaved (out[0 … 255], then out[256 … 511]): the same words
  /// as two calls, computed together where the AVX-512 path can keep two ChaCha20 states in flight.
  void next_interleaved_pair(std::span<std::uint32_t, 2 * buffer_words> out) noexcept {
    constexpr std::uint32_t last_start = 0xffffffffu - (lanes - 1);
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    // Both batches within this nonce, and the counter after them still a valid batch start.
    if (detail::best_simd_path() == detail::simd_path::avx512 && counter_ <= last_start - 2 * lanes) {
      detail::chacha20_interleaved_x2_avx512(key_, nonce_, counter_, out.data());
      counter_ += static_cast<std::uint32_t>(2 * lanes);
      return;
    }
#endif
    next_interleaved(out.template first<buffer_words>());
    next_interleaved(out.template last<buffer_words>());
  }

  /// Skips the next `n` batches of next_interleaved (16 blocks each) in O(1): afterwards the
  /// generator is where n calls would have left it (ChaCha20 is seekable). Parallel noise gives
  /// each thread a copy moved to its own batches, so the result does not depend on the threads.
  void skip_batches(std::uint64_t n) noexcept {
    constexpr std::uint32_t last_start = 0xffffffffu - (lanes - 1);
    constexpr std::uint64_t per_nonce = std::uint64_t{1} << 28; // batches from counter 0 to last_start
    if (n == 0) return;
    if (counter_ > last_start) next_nonce();
    const std::uint64_t left = (last_start - counter_) / lanes + 1; // batches before the next nonce
    if (n < left) {
      counter_ += static_cast<std::uint32_t>(n * lanes);
      return;
    }
    n -= left;
    next_nonce();
    nonce_[0] += static_cast<std::uint32_t>(n / per_nonce);
    counter_ = static_cast<std::uint32_t>((n % per_nonce) * lanes);
  }

  /// A generator for the labels (a, b), keyed from this one's key with the ChaCha20 block function
  /// used as a PRF, twice: k₁ = block(key, nonce (a, tag₁)), k₂ = block(k₁, nonce (b, tag₂)), the
  /// first 8 words of each. Equal labels give equal generators, distinct labels independent ones;
  /// this generator does not advance and its own keystream (nonce words never equal to the tags for
  /// the OS and reproducible() generators) is never reused. Reproducible stays reproducible. Used
  /// to key noise per (client, round), so that copies of one generator never add the same noise.
  [[nodiscard]] secure_rng derive(std::uint64_t a, std::uint64_t b) const noexcept {
    constexpr std::uint32_t tag1 = 0x31767264u, tag2 = 0x32767264u, tag3 = 0x33767264u; // "drv1" …
    const auto step = [](const std::array<std::uint32_t, 8>& key, std::uint64_t label, std::uint32_t tag) {
      std::uint32_t block[16];
      detail::chacha20_blocks<1>(
          key, {static_cast<std::uint32_t>(label), static_cast<std::uint32_t>(label >> 32), tag}, 0, block);
      std::array<std::uint32_t, 8> out{};
      std::memcpy(out.data(), block, sizeof out);
      return out;
    };
    secure_rng g(step(step(key_, a, tag1), b, tag2), {0, 0, tag3});
    g.reproducible_ = reproducible_;
    return g;
  }

  /// True for generators made by reproducible(): their output is predictable.
  [[nodiscard]] bool is_reproducible() const noexcept { return reproducible_; }

  /// The generator's position as bytes, for checkpoints (orchestration/checkpoint.hpp):
  /// ["FPCR"][version u8 = 1][reproducible u8: 0 | 1][reserved u16 = 0][key 8 × u32][nonce 3 × u32]
  /// [block counter u32][unread u32 ≤ 256][the unread words of the current buffer], little-endian.
  /// A generator restored from them continues with exactly the words this one would give. The
  /// bytes hold the secret key: keep them like the key itself (whoever reads them can predict
  /// every later word, i.e. remove the noise).
  [[nodiscard]] std::vector<std::byte> save_state() const {
    std::vector<std::byte> out;
    fedpp::detail::state_writer w(out);
    w.bytes(std::as_bytes(std::span<const char>("FPCR", 4)));
    w.u8(1);
    w.u8(reproducible_ ? 1 : 0);
    w.zeros(2);
    w.values(std::span<const std::uint32_t>(key_));
    w.values(std::span<const std::uint32_t>(nonce_));
    w.u32(counter_);
    w.u32(static_cast<std::uint32_t>(buffer_words - pos_));
    w.values(std::span<const std::uint32_t>(buffer_).subspan(pos_));
    return out;
  }

  /// Rebuilds a generator from save_state()'s bytes. Saved bytes are input: throws
  /// malformed_message for a bad magic or version, a reproducible flag other than 0 or 1, a
  /// reserved field other than 0, more than 256 unread words, or a length other than the one
  /// the fields give. Accepted bytes re-encode (save_state) to the same bytes.
  [[nodiscard]] static secure_rng restore_state(std::span<const std::byte> bytes) {
    fedpp::detail::state_reader r("secure_rng::restore_state", bytes);
    const auto magic = r.bytes(4, "magic");
    if (std::memcmp(magic.data(), "FPCR", 4) != 0) r.fail("bad magic (not a saved secure_rng)");
    const std::uint8_t version = r.u8("version");
    if (version != 1) r.fail("unsupported version " + std::to_string(version));
    const std::uint8_t reproducible = r.u8("reproducible flag");
    if (reproducible > 1)
      r.fail("reproducible flag is " + std::to_string(reproducible) + ", expected 0 or 1");
    r.expect_zero(r.u8("reserved byte 6"), "reserved byte 6");
    r.expect_zero(r.u8("reserved byte 7"), "reserved byte 7");
    secure_rng g(std::array<std::uint32_t, 8>{}, std::array<std::uint32_t, 3>{});
    r.values(std::span<std::uint32_t>(g.key_), "key");
    r.values(std::span<std::uint32_t>(g.nonce_), "nonce");
    g.counter_ = r.u32("block counter");
    const std::uint32_t unread = r.u32("unread words");
    if (unread > buffer_words)
      r.fail("unread words " + std::to_string(unread) + " exceed the buffer of " +
             std::to_string(buffer_words));
    g.pos_ = buffer_words - unread;
    r.values(std::span<std::uint32_t>(g.buffer_).subspan(g.pos_), "unread words");
    r.expect_end("after the unread words");
    g.reproducible_ = reproducible == 1;
    return g;
  }

private:
  void next_nonce() noexcept {
    counter_ = 0;
    ++nonce_[0];
  }
  // The next 16 blocks in keystream (RFC) order.
  void block_order(std::uint32_t* out) noexcept {
    alignas(64) std::uint32_t w[buffer_words];
    next_interleaved(std::span<std::uint32_t, buffer_words>(w, buffer_words));
    for (std::size_t l = 0; l < lanes; ++l)
      for (std::size_t i = 0; i < 16; ++i) out[l * 16 + i] = w[i * 16 + l];
  }
  void refill() noexcept {
    block_order(buffer_.data());
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
