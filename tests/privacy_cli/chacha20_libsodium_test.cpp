// fedpp's ChaCha20 (RFC 8439) equals libsodium's crypto_stream_chacha20_ietf keystream.
#include "fedpp/privacy/secure_rng.hpp"

#include <gtest/gtest.h>
#include <sodium.h>

#include <cstring>
#include <vector>

TEST(PrivacyChaCha20, MatchesLibsodium) {
  ASSERT_GE(sodium_init(), 0);
  unsigned char key[32], nonce[12];
  randombytes_buf(key, sizeof key);
  randombytes_buf(nonce, sizeof nonce);
  std::vector<unsigned char> ks(1 << 16, 0);
  crypto_stream_chacha20_ietf_xor_ic(ks.data(), ks.data(), ks.size(), nonce, 3, key);
  std::array<std::uint32_t, 8> k{};
  std::array<std::uint32_t, 3> n{};
  std::memcpy(k.data(), key, 32);
  std::memcpy(n.data(), nonce, 12);
  fedpp::privacy::secure_rng g(k, n, 3);
  std::vector<std::uint32_t> words(ks.size() / 4);
  g.fill(std::span<std::uint32_t>(words.data() + 0, 5)); // partial, then whole blocks, then a tail
  g.fill(std::span<std::uint32_t>(words.data() + 5, words.size() - 5));
  EXPECT_EQ(std::memcmp(words.data(), ks.data(), ks.size()), 0);
}

TEST(PrivacyChaCha20, InterleavedPairMatchesLibsodium) {
  // next_interleaved_pair (two AVX-512 states at once where available) is a lane-interleaved view
  // of 32 consecutive RFC 8439 blocks: word i of block l at out[(l / 16)·256 + i·16 + l % 16].
  ASSERT_GE(sodium_init(), 0);
  unsigned char key[32], nonce[12];
  randombytes_buf(key, sizeof key);
  randombytes_buf(nonce, sizeof nonce);
  std::vector<unsigned char> ks(64 * 32 * 4, 0);
  crypto_stream_chacha20_ietf_xor_ic(ks.data(), ks.data(), ks.size(), nonce, 11, key);
  std::array<std::uint32_t, 8> k{};
  std::array<std::uint32_t, 3> n{};
  std::memcpy(k.data(), key, 32);
  std::memcpy(n.data(), nonce, 12);
  fedpp::privacy::secure_rng g(k, n, 11);
  for (std::size_t pair = 0; pair < 4; ++pair) {
    std::array<std::uint32_t, 512> w{};
    g.next_interleaved_pair(w);
    for (std::size_t block = 0; block < 32; ++block)
      for (std::size_t i = 0; i < 16; ++i) {
        std::uint32_t expected = 0;
        std::memcpy(&expected, ks.data() + ((pair * 32 + block) * 16 + i) * 4, 4);
        ASSERT_EQ(w[block / 16 * 256 + i * 16 + block % 16], expected)
            << "pair " << pair << " block " << block;
      }
  }
}
