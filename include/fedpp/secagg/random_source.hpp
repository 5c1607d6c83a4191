/// \file random_source.hpp
/// Key material and the cryptographic random source of fedpp::secagg (keys, self-mask seeds,
/// Shamir coefficients). Distinct from fedpp::privacy::secure_rng, the noise generator of the DP
/// family: this one draws bytes from libsodium (the operating system's randombytes_buf) and is
/// what shamir_split and secagg_client take.
#pragma once

#include "fedpp/error.hpp"
#include "fedpp/transport/wire_format.hpp"

#include <sodium.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

namespace fedpp::secagg {

/// 32 bytes of key material (X25519 keys, self-mask seeds, ChaCha20 keys, Shamir secrets).
using key32 = std::array<std::byte, 32>;

namespace detail {
/// Initialises libsodium once (thread-safe in libsodium itself); throws if it cannot.
inline void ensure_sodium() {
  static const int status = sodium_init();
  if (status < 0) throw invalid_config("secagg: libsodium failed to initialise (sodium_init returned -1)");
}

/// Overwrites secret bytes in a way the compiler cannot elide.
inline void wipe(void* p, std::size_t n) noexcept { sodium_memzero(p, n); }
} // namespace detail

/// Cryptographic randomness: the operating system's (libsodium's randombytes_buf) by default, or,
/// through random_source::reproducible, a ChaCha20 stream keyed by a fixed seed — for tests and
/// benchmarks only, since whoever knows the seed knows every key and share drawn from it.
/// Not copyable (a copy would repeat the stream); the seed is wiped on destruction.
class random_source {
public:
  /// Operating-system randomness.
  random_source() { detail::ensure_sodium(); }
  /// A reproducible stream for tests and benchmarks: NOT secret randomness.
  [[nodiscard]] static random_source reproducible(const key32& seed) { return random_source(seed); }

  random_source(const random_source&) = delete;
  random_source& operator=(const random_source&) = delete;
  random_source(random_source&& other) noexcept : seed_(other.seed_), counter_(other.counter_) {
    other.forget_seed();
  }
  random_source& operator=(random_source&& other) noexcept {
    if (this != &other) {
      forget_seed();
      seed_ = other.seed_;
      counter_ = other.counter_;
      other.forget_seed();
    }
    return *this;
  }
  ~random_source() { forget_seed(); }

  /// True for a stream made by reproducible().
  [[nodiscard]] bool is_reproducible() const noexcept { return seed_.has_value(); }

  /// Fills `out` with random bytes.
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
  /// 32 fresh random bytes.
  [[nodiscard]] key32 key() {
    key32 k;
    fill(k);
    return k;
  }
  /// 64 random bits.
  [[nodiscard]] std::uint64_t u64() {
    std::array<std::byte, 8> b;
    fill(b);
    return wire::detail::get_u64(b.data());
  }

private:
  explicit random_source(const key32& seed) : seed_(seed) { detail::ensure_sodium(); }
  void forget_seed() noexcept {
    if (seed_) detail::wipe(seed_->data(), seed_->size());
    seed_.reset();
  }

  std::optional<key32> seed_;
  std::uint64_t counter_ = 0;
};

} // namespace fedpp::secagg
