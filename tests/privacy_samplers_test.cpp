// Secure samplers against their exact distributions at fixed seeds, and clipping.
#include "fedpp/privacy/clipping.hpp"
#include "fedpp/privacy/discrete_gaussian.hpp"
#include "fedpp/privacy/gaussian_noise.hpp"
#include "fedpp/privacy/secure_rng.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <vector>

using namespace fedpp::privacy;

TEST(PrivacySamplers, ChaCha20Rfc8439BlockVector) {
  // RFC 8439 §2.3.2: key 00..1f, nonce 00:00:00:09:00:00:00:4a:00:00:00:00, counter 1.
  std::array<std::uint32_t, 8> key{};
  unsigned char kb[32];
  for (int i = 0; i < 32; ++i) kb[i] = static_cast<unsigned char>(i);
  std::memcpy(key.data(), kb, 32);
  const unsigned char nb[12] = {0, 0, 0, 9, 0, 0, 0, 0x4a, 0, 0, 0, 0};
  std::array<std::uint32_t, 3> nonce{};
  std::memcpy(nonce.data(), nb, 12);
  secure_rng g(key, nonce, 1);
  std::uint32_t w[4];
  for (auto& x : w) x = g();
  const unsigned char expected[16] = {0x10, 0xf1, 0xe7, 0xe4, 0xd1, 0x3b, 0x59, 0x15,
                                      0x50, 0x0f, 0xdd, 0x1f, 0xa3, 0x20, 0x71, 0xc4};
  EXPECT_EQ(std::memcmp(w, expected, 16), 0);
}

namespace {
using fedpp::privacy::detail::simd_path;
std::vector<simd_path> supported_paths() {
  std::vector<simd_path> paths{simd_path::scalar};
  for (simd_path p : {simd_path::avx2, simd_path::avx512})
    if (fedpp::privacy::detail::cpu_supports(p)) paths.push_back(p);
  return paths;
}
} // namespace

TEST(PrivacySamplers, ChaCha20EverySimdPathMatchesTheRfcAndTheScalarReference) {
  // RFC 8439 §2.3.2 key/nonce; every path's lane l must equal the scalar block at counter + l,
  // including a batch that ends at the last 32-bit counter.
  std::array<std::uint32_t, 8> key{};
  unsigned char kb[32];
  for (int i = 0; i < 32; ++i) kb[i] = static_cast<unsigned char>(i);
  std::memcpy(key.data(), kb, 32);
  const unsigned char nb[12] = {0, 0, 0, 9, 0, 0, 0, 0x4a, 0, 0, 0, 0};
  std::array<std::uint32_t, 3> nonce{};
  std::memcpy(nonce.data(), nb, 12);
  for (std::uint32_t counter : {0u, 1u, 7u, 0xfffffff0u}) {
    std::uint32_t blocks[256];
    detail::chacha20_blocks<16>(key, nonce, counter, blocks);
    for (simd_path p : supported_paths()) {
      std::uint32_t w[256];
      detail::chacha20_interleaved(p, key, nonce, counter, w);
      for (std::size_t l = 0; l < 16; ++l)
        for (std::size_t i = 0; i < 16; ++i)
          ASSERT_EQ(w[i * 16 + l], blocks[l * 16 + i]) << "path " << static_cast<int>(p) << " lane " << l;
    }
  }
  // lane 0 at counter 1 is the whole serialized block of RFC 8439 §2.3.2
  const unsigned char expected[64] = {
      0x10, 0xf1, 0xe7, 0xe4, 0xd1, 0x3b, 0x59, 0x15, 0x50, 0x0f, 0xdd, 0x1f, 0xa3, 0x20, 0x71, 0xc4,
      0xc7, 0xd1, 0xf4, 0xc7, 0x33, 0xc0, 0x68, 0x03, 0x04, 0x22, 0xaa, 0x9a, 0xc3, 0xd4, 0x6c, 0x4e,
      0xd2, 0x82, 0x64, 0x46, 0x07, 0x9f, 0xaa, 0x09, 0x14, 0xc2, 0xd7, 0x05, 0xd9, 0x8b, 0x02, 0xa2,
      0xb5, 0x12, 0x9c, 0xd1, 0xde, 0x16, 0x4e, 0xb9, 0xcb, 0xd0, 0x83, 0xe8, 0xa2, 0x50, 0x3c, 0x4e};
  for (simd_path p : supported_paths()) {
    std::uint32_t w[256];
    detail::chacha20_interleaved(p, key, nonce, 1, w);
    std::uint32_t block[16];
    for (std::size_t i = 0; i < 16; ++i) block[i] = w[i * 16]; // little-endian host, as the RFC serializes
    EXPECT_EQ(std::memcmp(block, expected, 64), 0) << "path " << static_cast<int>(p);
  }
}

TEST(PrivacySamplers, StreamOrderAndCounterEnd) {
  // operator()/fill give the keystream in RFC order whatever next_interleaved did before.
  auto a = secure_rng::reproducible(reproducible_seed{9});
  auto b = secure_rng::reproducible(reproducible_seed{9});
  std::vector<std::uint32_t> fa(1000), fb(1000);
  a.fill(fa);
  for (auto& v : fb) v = b();
  EXPECT_EQ(fa, fb);
  // a batch near the end of the 32-bit counter moves to a fresh nonce instead of wrapping onto
  // counters 0..: the words differ from the counter-0 batch of the same nonce
  std::array<std::uint32_t, 8> key{1, 2, 3, 4, 5, 6, 7, 8};
  secure_rng end(key, {0, 0, 0}, 0xfffffff8u), start(key, {0, 0, 0}, 0);
  std::array<std::uint32_t, 256> we{}, ws{}, we2{}, wn{};
  end.next_interleaved(we); // moved to nonce {1,0,0}, counter 0
  start.next_interleaved(ws);
  EXPECT_NE(we, ws);
  secure_rng fresh(key, {1, 0, 0}, 0);
  fresh.next_interleaved(wn);
  EXPECT_EQ(we, wn);
  secure_rng last(key, {0, 0, 0}, 0xfffffff0u); // the last whole batch, then the next nonce
  last.next_interleaved(we2);
  last.next_interleaved(we);
  EXPECT_EQ(we, wn);
}

TEST(PrivacySamplers, InterleavedPairEqualsTwoCalls) {
  // Two ChaCha20 states at once (AVX-512) or two single batches: the same words, the same state
  // afterwards, wherever the counter is — including the batches that end a nonce.
  const std::array<std::uint32_t, 8> key{5, 1, 4, 1, 5, 9, 2, 6};
  for (std::uint32_t start : {0u, 16u, 0xffffffffu - 15u - 64u, 0xffffffffu - 15u - 32u,
                              0xffffffffu - 15u - 16u, 0xffffffffu - 15u, 0xfffffff9u}) {
    secure_rng paired(key, {7, 0, 0}, start), single(key, {7, 0, 0}, start);
    std::array<std::uint32_t, 512> p{};
    std::array<std::uint32_t, 256> a{}, b{};
    for (int step = 0; step < 3; ++step) {
      paired.next_interleaved_pair(p);
      single.next_interleaved(a);
      single.next_interleaved(b);
      ASSERT_TRUE(std::equal(a.begin(), a.end(), p.begin())) << "start " << start << " step " << step;
      ASSERT_TRUE(std::equal(b.begin(), b.end(), p.begin() + 256)) << "start " << start << " step " << step;
    }
    paired.next_interleaved(a);
    single.next_interleaved(b);
    EXPECT_EQ(a, b) << "start " << start;
  }
}

TEST(PrivacySamplers, SkipBatchesEqualsThatManyCalls) {
  const std::array<std::uint32_t, 8> key{8, 7, 6, 5, 4, 3, 2, 1};
  for (std::uint32_t start : {0u, 5u, 0xffffffffu - 15u - 32u, 0xffffffffu - 20u, 0xfffffff9u}) {
    for (std::uint64_t n : {0u, 1u, 2u, 3u, 4u, 7u}) {
      secure_rng stepped(key, {3, 0, 0}, start), skipped(key, {3, 0, 0}, start);
      std::array<std::uint32_t, 256> a{}, b{};
      for (std::uint64_t i = 0; i < n; ++i) stepped.next_interleaved(a);
      skipped.skip_batches(n);
      stepped.next_interleaved(a);
      skipped.next_interleaved(b);
      EXPECT_EQ(a, b) << "start " << start << " n " << n;
    }
  }
  // a whole nonce (2^28 batches) further is the next nonce's start
  secure_rng far(key, {3, 0, 0}, 0), next(key, {4, 0, 0}, 0);
  far.skip_batches(std::uint64_t{1} << 28);
  std::array<std::uint32_t, 256> a{}, b{};
  far.next_interleaved(a);
  next.next_interleaved(b);
  EXPECT_EQ(a, b);
}

TEST(PrivacySamplers, ParallelNoiseEqualsSerialNoiseForAnyPoolSize) {
  for (std::size_t threads : {1u, 2u, 3u}) {
    fedpp::parallel::thread_pool pool(threads);
    for (std::size_t n : {0u, 1u, 65536u, 65537u, 3u * 65536u + 100u}) {
      auto g1 = secure_rng::reproducible(reproducible_seed{31});
      auto g2 = secure_rng::reproducible(reproducible_seed{31});
      std::vector<float> a(n, 1.0f), b(n, 1.0f);
      add_gaussian_noise(g1, std::span<float>(a), 0.7);
      add_gaussian_noise(pool, g2, std::span<float>(b), 0.7);
      ASSERT_EQ(a, b) << threads << " threads, n = " << n;
      scale_and_add_gaussian_noise(g1, std::span<float>(a), 0.5, 0.2);
      scale_and_add_gaussian_noise(pool, g2, std::span<float>(b), 0.5, 0.2);
      ASSERT_EQ(a, b) << threads << " threads, n = " << n;
      std::vector<double> c(n), d(n);
      add_gaussian_noise(g1, std::span<double>(c), 2.0);
      add_gaussian_noise(pool, g2, std::span<double>(d), 2.0);
      ASSERT_EQ(c, d);
      EXPECT_EQ(g1.next_u64(), g2.next_u64()); // both generators end at the same place
    }
  }
  fedpp::parallel::thread_pool pool(2);
  auto g = secure_rng::reproducible(reproducible_seed{1});
  std::vector<float> y(10, 2.0f);
  EXPECT_THROW(add_gaussian_noise(pool, g, std::span<float>(y), -1.0), fedpp::invalid_config);
  EXPECT_THROW(scale_and_add_gaussian_noise(pool, g, std::span<float>(y), INFINITY, 1.0),
               fedpp::invalid_config);
  for (float v : y) EXPECT_EQ(v, 2.0f);
}

TEST(PrivacySamplers, BoxMullerEverySimdPathMatchesTheScalarReference) {
  auto g = secure_rng::reproducible(reproducible_seed{21});
  std::array<std::uint32_t, 256> w{};
  for (int rep = 0; rep < 64; ++rep) {
    g.next_interleaved(w);
    if (rep == 0) { // extremes: u1 = 2^-32 (the cap) and u1 = 1 (radius 0)
      w[0] = 0;
      w[1] = 0xffffffffu;
    }
    float ref[256], base[256];
    detail::box_muller_scalar(w.data(), 1.5f, ref, false);
    for (simd_path p : supported_paths()) {
      float out[256];
      detail::box_muller(p, w.data(), 1.5f, out, false);
      for (std::size_t i = 0; i < 256; ++i) ASSERT_NEAR(out[i], ref[i], 1e-6f * (1 + std::abs(ref[i])));
      for (std::size_t i = 0; i < 256; ++i) base[i] = out[i] = static_cast<float>(i);
      detail::box_muller(p, w.data(), 1.5f, out, true);
      // Adding into base[i] (up to 255) rounds at base's magnitude: float's ulp there is ~1.5e-5.
      for (std::size_t i = 0; i < 256; ++i)
        ASSERT_NEAR(out[i], base[i] + ref[i], 1e-5f * (1 + std::abs(ref[i])) + 2e-7f * std::abs(base[i]));
    }
    for (float v : ref) {
      ASSERT_TRUE(std::isfinite(v));
      ASSERT_LE(std::abs(v), 1.5f * 6.67f);
    }
    if (rep == 0) {
      EXPECT_NEAR(std::hypot(ref[0], ref[16]), 1.5 * std::sqrt(64 * std::log(2.0)), 1e-4);
      EXPECT_NEAR(std::hypot(ref[1], ref[17]), 0.0, 1e-6);
    }
  }
}

TEST(PrivacySamplers, ReproducibleOnlyWhenAsked) {
  auto a = secure_rng::reproducible(reproducible_seed{7});
  auto b = secure_rng::reproducible(reproducible_seed{7});
  EXPECT_TRUE(a.is_reproducible());
  EXPECT_EQ(a(), b());
  secure_rng c, d;
  EXPECT_FALSE(c.is_reproducible());
  EXPECT_NE(c.next_u64(), d.next_u64());
  static_assert(!std::is_convertible_v<std::uint64_t, reproducible_seed>);
}

TEST(PrivacySamplers, GaussianMomentsAndKolmogorovSmirnov) {
  auto g = secure_rng::reproducible(reproducible_seed{11});
  std::vector<double> x(200000);
  fill_gaussian(g, std::span<double>(x), 2.0);
  double m = 0, v = 0, k = 0;
  for (double s : x) m += s;
  m /= static_cast<double>(x.size());
  for (double s : x) {
    v += (s - m) * (s - m);
    k += std::pow(s - m, 4);
  }
  v /= static_cast<double>(x.size());
  k /= static_cast<double>(x.size()) * v * v;
  EXPECT_NEAR(m, 0, 5 * 2.0 / std::sqrt(200000.0));
  EXPECT_NEAR(v, 4.0, 0.05);
  EXPECT_NEAR(k, 3.0, 0.05);
  std::sort(x.begin(), x.end());
  double d = 0;
  const double n = static_cast<double>(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) {
    const double f = 0.5 * std::erfc(-x[i] / (2.0 * std::sqrt(2.0)));
    d = std::max({d, f - static_cast<double>(i) / n, static_cast<double>(i + 1) / n - f});
  }
  EXPECT_LT(d * std::sqrt(n), 1.63); // KS critical value at α = 0.01
  // the tail: P(|Z| > 3) = 0.0026998, P(|Z| > 4) = 6.334e-5 (counts vs binomial sd)
  const auto beyond = [&x](double t) {
    return static_cast<double>(
        std::count_if(x.begin(), x.end(), [t](double s) { return std::abs(s) > 2 * t; }));
  };
  EXPECT_NEAR(beyond(3.0), n * 0.0026998, 4 * std::sqrt(n * 0.0026998));
  EXPECT_NEAR(beyond(4.0), n * 6.334e-5, 4 * std::sqrt(n * 6.334e-5) + 1);
}

TEST(PrivacySamplers, GaussianFloatPathMomentsAndKs) {
  // the float path writes whole blocks in place (and adds); check it like the double path
  auto g = secure_rng::reproducible(reproducible_seed{12});
  std::vector<float> x(200001, 3.0f); // odd tail
  add_gaussian_noise(g, std::span<float>(x), 0.5);
  std::vector<double> z(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) z[i] = (static_cast<double>(x[i]) - 3.0) / 0.5;
  double m = 0, v = 0;
  for (double s : z) m += s;
  const double n = static_cast<double>(z.size());
  m /= n;
  for (double s : z) v += (s - m) * (s - m);
  v /= n;
  EXPECT_NEAR(m, 0, 5 / std::sqrt(n));
  EXPECT_NEAR(v, 1.0, 0.015);
  std::sort(z.begin(), z.end());
  double d = 0;
  for (std::size_t i = 0; i < z.size(); ++i) {
    const double f = 0.5 * std::erfc(-z[i] / std::sqrt(2.0));
    d = std::max({d, f - static_cast<double>(i) / n, static_cast<double>(i + 1) / n - f});
  }
  EXPECT_LT(d * std::sqrt(n), 1.63);
}

TEST(PrivacySamplers, AddNoiseTailAndSizes) {
  auto g = secure_rng::reproducible(reproducible_seed{3});
  for (std::size_t n : {0u, 1u, 255u, 257u, 1000u}) {
    std::vector<float> x(n, 1.0f);
    add_gaussian_noise(g, std::span<float>(x), 0.0);
    for (float v : x) EXPECT_EQ(v, 1.0f);
  }
  std::vector<float> y(10, 2.0f);
  EXPECT_THROW(add_gaussian_noise(g, std::span<float>(y), -1.0), fedpp::invalid_config);
  EXPECT_THROW(add_gaussian_noise(g, std::span<float>(y), std::nan("")), fedpp::invalid_config);
  EXPECT_THROW(fill_gaussian(g, std::span<float>(y), 1e300), fedpp::invalid_config);
  for (float v : y) EXPECT_EQ(v, 2.0f);
}

TEST(PrivacySamplers, ScaleAndAddNoiseIsOnePassOfBoth) {
  // same seed: α·x + noise equals α·x then add_gaussian_noise, for float (in place) and double
  for (std::size_t n : {1u, 256u, 1000u}) {
    auto g1 = secure_rng::reproducible(reproducible_seed{4});
    auto g2 = secure_rng::reproducible(reproducible_seed{4});
    std::vector<float> a(n), b(n);
    for (std::size_t i = 0; i < n; ++i) a[i] = b[i] = static_cast<float>(i) - 17.5f;
    scale_and_add_gaussian_noise(g1, std::span<float>(a), 0.25, 0.3);
    for (float& v : b) v *= 0.25f;
    add_gaussian_noise(g2, std::span<float>(b), 0.3);
    for (std::size_t i = 0; i < n; ++i) EXPECT_NEAR(a[i], b[i], 1e-5f * (1 + std::abs(b[i])));
  }
  auto g = secure_rng::reproducible(reproducible_seed{4});
  std::vector<double> d(300, 2.0);
  scale_and_add_gaussian_noise(g, std::span<double>(d), 0.5, 0.0);
  for (double v : d) EXPECT_EQ(v, 1.0);
  EXPECT_THROW(scale_and_add_gaussian_noise(g, std::span<double>(d), std::nan(""), 1.0),
               fedpp::invalid_config);
  EXPECT_THROW(scale_and_add_gaussian_noise(g, std::span<double>(d), 1.0, -2.0), fedpp::invalid_config);
  for (double v : d) EXPECT_EQ(v, 1.0);
}

TEST(PrivacySamplers, DiscreteGaussianChiSquare) {
  auto g = secure_rng::reproducible(reproducible_seed{5});
  const double sigma = 1.5;
  discrete_gaussian dg(sigma);
  const int n = 100000;
  std::map<std::int64_t, int> counts;
  for (int i = 0; i < n; ++i) ++counts[dg(g)];
  // exact pmf ∝ exp(−x²/(2σ²)), cells −4..4 plus the two tails
  double z = 0;
  for (int x = -60; x <= 60; ++x) z += std::exp(-x * x / (2 * sigma * sigma));
  double chi2 = 0, tail_p = 1;
  int tail_count = n;
  for (int x = -4; x <= 4; ++x) {
    const double p = std::exp(-x * x / (2 * sigma * sigma)) / z;
    tail_p -= p;
    tail_count -= counts[x];
    chi2 += std::pow(counts[x] - n * p, 2) / (n * p);
  }
  chi2 += std::pow(tail_count - n * tail_p, 2) / (n * tail_p);
  EXPECT_LT(chi2, 23.2); // 9 degrees of freedom, α = 0.01
  EXPECT_THROW(discrete_gaussian(-1.0), fedpp::invalid_config);
}

TEST(PrivacyClipping, FlatAndPerLayer) {
  std::vector<float> x{3, 4};
  EXPECT_DOUBLE_EQ(clip_flat(std::span<float>(x), 1.0), 5.0);
  EXPECT_NEAR(l2_norm(std::span<const float>(x)), 1.0, 1e-6);
  std::vector<float> y{0.3f, 0.4f};
  clip_flat(std::span<float>(y), 1.0);
  EXPECT_FLOAT_EQ(y[0], 0.3f);
  fedpp::model_layout layout;
  layout.add("a", fedpp::tensor_shape({2}));
  layout.add("b", fedpp::tensor_shape({1}));
  std::vector<float> z{3, 4, -2};
  const std::vector<double> bounds{1.0, 0.5};
  const auto norms = clip_per_layer(std::span<float>(z), layout, bounds);
  EXPECT_DOUBLE_EQ(norms[0], 5.0);
  EXPECT_DOUBLE_EQ(norms[1], 2.0);
  EXPECT_NEAR(z[0], 0.6, 1e-6);
  EXPECT_NEAR(z[2], -0.5, 1e-6);
  EXPECT_NEAR(per_layer_sensitivity(bounds), std::sqrt(1.25), 1e-12);
  std::vector<float> w{1, 2, 3};
  EXPECT_THROW(clip_per_layer(std::span<float>(w), layout, std::vector<double>{1.0}), fedpp::invalid_config);
  EXPECT_EQ(w[0], 1.0f);
  EXPECT_THROW(clip_flat(std::span<float>(w), 0.0), fedpp::invalid_config);
}
