// Quantizers, rotation, bit packing, sign, sparsification, count sketch and error feedback:
// round trips, error bounds, statistical unbiasedness at fixed seeds.
#include "fedpp/compression/compression.hpp"
#include "fedpp/kernels/dispatch.hpp"
#include "fedpp/random/rng.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>
#include <vector>

namespace fc = fedpp::compression;

namespace {

std::vector<float> gaussian(std::size_t n, std::uint64_t seed, float scale = 1.0F) {
  fedpp::rng g(seed);
  std::vector<float> v(n);
  for (auto& x : v) {
    const double u1 = g.uniform_open(), u2 = g.uniform();
    x = scale * static_cast<float>(std::sqrt(-2 * std::log(u1)) * std::cos(6.283185307179586 * u2));
  }
  return v;
}

template <class C>
std::vector<float> round_trip(const C& c, std::span<const float> x, std::uint64_t seed,
                              std::size_t* bytes = nullptr) {
  std::vector<std::byte> p;
  c.compress(x, seed, p);
  if (bytes) *bytes = p.size();
  std::vector<float> out(x.size(), 123.0F);
  fc::decode(p, out);
  return out;
}

} // namespace

TEST(CompressionBitPacking, EveryWidthAndOddLengthsRoundTrip) {
  fedpp::rng g(3);
  for (unsigned bits = 1; bits <= 8; ++bits)
    for (std::size_t n : {0, 1, 2, 3, 7, 8, 9, 15, 17, 63, 65, 1001}) {
      std::vector<std::uint8_t> codes(n), back(n, 0xff);
      for (auto& c : codes) c = static_cast<std::uint8_t>(g.below(1U << bits));
      std::vector<std::byte> packed(fc::packed_bytes(n, bits) + 1, std::byte{0xee}); // guard byte
      fc::pack_bits(codes, bits, std::span(packed).first(fc::packed_bytes(n, bits)));
      EXPECT_EQ(packed.back(), std::byte{0xee}) << "wrote past the packed size";
      EXPECT_EQ(fc::packed_bytes(n, bits), (n * bits + 7) / 8);
      fc::unpack_bits(std::span(packed).first(fc::packed_bytes(n, bits)), bits, back);
      EXPECT_EQ(codes, back) << "bits " << bits << " n " << n;
    }
}

TEST(CompressionBitPacking, RefusesBadWidthsAndShortBuffers) {
  std::vector<std::uint8_t> codes(9);
  std::vector<std::byte> out(2);
  EXPECT_THROW(fc::pack_bits(codes, 0, out), fedpp::invalid_config);
  EXPECT_THROW(fc::pack_bits(codes, 9, out), fedpp::invalid_config);
  EXPECT_THROW(fc::pack_bits(codes, 2, std::span(out).first(1)), fedpp::invalid_config);
  EXPECT_THROW(fc::unpack_bits(std::span(out).first(1), 2, codes), fedpp::invalid_config);
}

TEST(CompressionHadamard, InverseRestoresIncludingNonPowerOfTwo) {
  for (std::size_t d : {1, 2, 3, 5, 8, 100, 1000, 1024}) {
    const auto x = gaussian(d, d);
    const fc::hadamard_rotation rot(d, 42);
    std::vector<float> y(rot.padded_size()), back(d);
    rot.forward(x, y);
    // orthonormal: the norm is preserved
    double nx = 0, ny = 0;
    for (float v : x) nx += double(v) * v;
    for (float v : y) ny += double(v) * v;
    EXPECT_NEAR(nx, ny, 1e-4 * nx);
    rot.inverse(y, back);
    for (std::size_t i = 0; i < d; ++i) EXPECT_NEAR(back[i], x[i], 1e-5) << "d " << d << " i " << i;
  }
}

TEST(CompressionUniform, ErrorBoundsPerModeAndWidth) {
  const auto x = gaussian(10007, 1);
  for (unsigned bits : {1U, 2U, 4U, 8U})
    for (std::uint32_t chunk : {0U, 256U, 1000U})
      for (auto mode : {fc::rounding::nearest, fc::rounding::stochastic}) {
        const fc::uniform_quantizer q(bits, chunk, mode);
        std::size_t bytes = 0;
        const auto y = round_trip(q, x, 9, &bytes);
        EXPECT_EQ(bytes, q.payload_bytes(x.size()));
        const std::size_t per = chunk == 0 ? x.size() : chunk;
        for (std::size_t c = 0; c * per < x.size(); ++c) {
          const auto b = x.begin() + static_cast<std::ptrdiff_t>(c * per);
          const auto e = x.begin() + static_cast<std::ptrdiff_t>(std::min(x.size(), (c + 1) * per));
          const auto [lo, hi] = std::minmax_element(b, e);
          const float step = (*hi - *lo) / static_cast<float>((1U << bits) - 1U);
          const float bound = (mode == fc::rounding::nearest ? 0.5F : 1.0F) * step + 1e-5F;
          for (auto it = b; it != e; ++it) {
            const auto i = static_cast<std::size_t>(it - x.begin());
            ASSERT_LE(std::fabs(y[i] - x[i]), bound) << bits << " bits chunk " << chunk << " i " << i;
          }
        }
      }
}

TEST(CompressionUniform, CompressionRatioMatchesTheory) {
  const fc::uniform_quantizer q8(8, 4096), q4(4, 4096), q1(1, 0);
  const std::size_t d = 1 << 20;
  EXPECT_EQ(q8.payload_bytes(d), 16 + 8 * 256 + d);
  EXPECT_EQ(q4.payload_bytes(d), 16 + 8 * 256 + d / 2);
  EXPECT_EQ(q1.payload_bytes(d), 16 + 8 + d / 8);
}

TEST(CompressionUniform, ConstantAndEmptyVectorsAreExact) {
  const std::vector<float> c(77, 2.5F);
  for (unsigned bits : {1U, 8U}) EXPECT_EQ(round_trip(fc::uniform_quantizer(bits), c, 1), c);
  const std::vector<float> e;
  EXPECT_TRUE(round_trip(fc::uniform_quantizer(8), e, 1).empty());
}

// The mean over N seeds of the stochastic decode must be within 5 standard errors of x at every
// coordinate (stochastic rounding has variance ≤ step²/4); nearest rounding fails the same test.
template <class Make>
double max_z_score(Make make, const std::vector<float>& x, double sd_per_draw, int draws) {
  std::vector<double> mean(x.size(), 0.0);
  for (int s = 0; s < draws; ++s) {
    const auto y = round_trip(make(), x, 1000 + static_cast<std::uint64_t>(s));
    for (std::size_t i = 0; i < x.size(); ++i) mean[i] += y[i];
  }
  double worst = 0;
  for (std::size_t i = 0; i < x.size(); ++i)
    worst = std::max(worst, std::fabs(mean[i] / draws - x[i]) / (sd_per_draw / std::sqrt(double(draws))));
  return worst;
}

TEST(CompressionUniform, StochasticRoundingIsUnbiased) {
  auto x = gaussian(200, 5);
  x.push_back(-3.0F);
  x.push_back(3.0F);             // fixed range [-3, 3]
  const double step = 6.0 / 3.0; // 2 bits
  const double z =
      max_z_score([] { return fc::uniform_quantizer(2, 0, fc::rounding::stochastic); }, x, step / 2, 4000);
  EXPECT_LT(z, 5.0);
  const double z_nearest =
      max_z_score([] { return fc::uniform_quantizer(2, 0, fc::rounding::nearest); }, x, step / 2, 200);
  EXPECT_GT(z_nearest, 5.0) << "the test must be able to detect bias";
}

TEST(CompressionUniform, RotationCutsTheErrorOfSpikyVectors) {
  auto x = gaussian(4000, 8, 0.01F);
  x[17] = 50.0F; // one outlier stretches the range
  auto err = [&](bool rotate) {
    const auto y = round_trip(fc::uniform_quantizer(4, 0, fc::rounding::stochastic, rotate), x, 3);
    double e = 0;
    for (std::size_t i = 0; i < x.size(); ++i) e += double(y[i] - x[i]) * (y[i] - x[i]);
    return e;
  };
  EXPECT_LT(err(true), 0.2 * err(false));
}

TEST(CompressionUniform, RefusesNonFiniteInputAndBadWidth) {
  std::vector<float> x(10, 1.0F);
  x[3] = std::nanf("");
  std::vector<std::byte> out{std::byte{7}};
  EXPECT_THROW(fc::uniform_quantizer(8).compress(x, 1, out), fedpp::invalid_config);
  EXPECT_EQ(out.size(), 1U);
  EXPECT_THROW(fc::uniform_quantizer(3), fedpp::invalid_config);
  std::vector<float> big{-3e38F, 3e38F};
  EXPECT_THROW(fc::uniform_quantizer(8).compress(big, 1, out), fedpp::invalid_config);
  EXPECT_EQ(out.size(), 1U);
  // Chunks are encoded one after another: a bad value in a later chunk (after earlier chunks'
  // codes were written) or a later chunk whose range overflows still leaves `out` as it was.
  std::vector<float> late(40, 0.5F);
  late[37] = std::numeric_limits<float>::infinity();
  EXPECT_THROW(fc::uniform_quantizer(4, 8).compress(late, 1, out), fedpp::invalid_config);
  late[37] = 3e38F;
  late[38] = -3e38F;
  EXPECT_THROW(fc::uniform_quantizer(8, 8).compress(late, 1, out), fedpp::invalid_config);
  ASSERT_EQ(out.size(), 1U);
  EXPECT_EQ(out[0], std::byte{7});
}

TEST(CompressionQsgd, UnbiasedAndBounded) {
  const auto x = gaussian(100, 11);
  double norm = 0;
  for (float v : x) norm += double(v) * v;
  norm = std::sqrt(norm);
  const unsigned s = 4;
  EXPECT_LT(max_z_score([&] { return fc::qsgd(s); }, x, norm / s / 2, 4000), 5.0);
  const auto y = round_trip(fc::qsgd(s), x, 1);
  for (std::size_t i = 0; i < x.size(); ++i) EXPECT_LE(std::fabs(y[i] - x[i]), norm / s + 1e-5);
  EXPECT_EQ(fc::qsgd::bits_for(1), 2U);
  EXPECT_EQ(fc::qsgd::bits_for(127), 8U);
  EXPECT_THROW(fc::qsgd(0), fedpp::invalid_config);
  EXPECT_THROW(fc::qsgd(128), fedpp::invalid_config);
}

TEST(CompressionFloatCast, ExactWhereRepresentableAndRoundsToNearestEven) {
  const std::vector<float> exact{
      0.0F, -0.0F, 1.0F, -2.5F, 65504.0F, 0x1.0p-24F, 0x1.0p-14F, 1.5F * 0x1.0p-20F, 1024.0F};
  EXPECT_EQ(round_trip(fc::float_cast(fc::half_format::fp16), exact, 0), exact);
  const std::vector<float> bf{0.0F, 1.0F, -3.0F, 0x1.0p100F, 0x1.0p-130F};
  EXPECT_EQ(round_trip(fc::float_cast(fc::half_format::bf16), bf, 0), bf);
  // ties to even: 1 + 2^-11 lies halfway between 1 and 1 + 2^-10
  EXPECT_EQ(fc::from_fp16(fc::to_fp16(1.0F + 0x1.0p-11F)), 1.0F);
  EXPECT_EQ(fc::from_fp16(fc::to_fp16(1.0F + 3 * 0x1.0p-11F)), 1.0F + 0x1.0p-9F);
  EXPECT_EQ(fc::from_bf16(fc::to_bf16(1.0F + 0x1.0p-8F)), 1.0F);
  // relative error ≤ 2^-11 (fp16) / 2^-8 (bf16) on normal values
  const auto x = gaussian(1000, 2);
  const auto h = round_trip(fc::float_cast(fc::half_format::fp16), x, 0);
  const auto b = round_trip(fc::float_cast(fc::half_format::bf16), x, 0);
  for (std::size_t i = 0; i < x.size(); ++i) {
    if (std::fabs(x[i]) > 1e-4F) {
      EXPECT_LE(std::fabs(h[i] - x[i]), std::fabs(x[i]) * 0x1.0p-11F);
    }
    EXPECT_LE(std::fabs(b[i] - x[i]), std::fabs(x[i]) * 0x1.0p-8F);
  }
  std::vector<std::byte> out;
  EXPECT_THROW(fc::float_cast().compress(std::vector<float>{70000.0F}, 0, out), fedpp::invalid_config);
  EXPECT_TRUE(out.empty());
}

TEST(CompressionSign, ScaledAndUnscaled) {
  const auto x = gaussian(1001, 4);
  const auto y = round_trip(fc::sign_compressor(false), x, 0);
  for (std::size_t i = 0; i < x.size(); ++i) EXPECT_EQ(y[i], x[i] < 0 ? -1.0F : 1.0F);
  const auto z = round_trip(fc::sign_compressor(true, 100), x, 0);
  for (std::size_t c = 0; c * 100 < x.size(); ++c) {
    double l1 = 0;
    const std::size_t end = std::min<std::size_t>(x.size(), (c + 1) * 100);
    for (std::size_t i = c * 100; i < end; ++i) l1 += std::fabs(x[i]);
    const auto m = static_cast<float>(l1 / static_cast<double>(end - c * 100));
    for (std::size_t i = c * 100; i < end; ++i) EXPECT_FLOAT_EQ(z[i], x[i] < 0 ? -m : m);
  }
}

TEST(CompressionTopK, MatchesAFullSortOnLargeAndSmallInputs) {
  for (std::size_t d : {0, 1, 5, 1000, 150000}) {
    const auto x = gaussian(d, d + 1);
    for (std::size_t k : {std::size_t{0}, std::size_t{1}, d / 100, d / 3, d}) {
      std::vector<std::uint32_t> got;
      fc::top_k_indices(x, k, got);
      std::vector<std::uint32_t> all(d);
      std::iota(all.begin(), all.end(), 0U);
      std::sort(all.begin(), all.end(), [&](auto a, auto b) { return std::fabs(x[a]) > std::fabs(x[b]); });
      all.resize(std::min(k, d));
      std::sort(all.begin(), all.end());
      EXPECT_EQ(got, all) << "d " << d << " k " << k;
    }
  }
}

TEST(CompressionTopK, TiesGoToTheLowestIndicesOnEveryPath) {
  // Few distinct magnitudes (and both signs), so the k-th largest is shared by many elements:
  // the result must be the k largest with the lowest indices among the equal ones.
  for (const auto path : fedpp::kernels::available_isas()) {
    const fedpp::kernels::scoped_isa_override forced(path);
    for (std::size_t d : {7, 33, 1000, 150000}) {
      fedpp::rng g(d);
      std::vector<float> x(d);
      for (auto& v : x) v = static_cast<float>(static_cast<int>(g.uniform() * 9) - 4) * 0.5F;
      for (std::size_t k : {std::size_t{1}, d / 100 + 1, d / 3, d - 1}) {
        std::vector<std::uint32_t> got;
        fc::top_k_indices(x, k, got);
        std::vector<std::uint32_t> all(d);
        std::iota(all.begin(), all.end(), 0U);
        std::stable_sort(all.begin(), all.end(),
                         [&](auto a, auto b) { return std::fabs(x[a]) > std::fabs(x[b]); });
        all.resize(k);
        std::sort(all.begin(), all.end());
        ASSERT_EQ(got, all) << fedpp::kernels::to_string(path) << " d " << d << " k " << k;
      }
    }
  }
}

TEST(CompressionSparsifier, TopKKeepsExactValuesAndPicksTheSmallerIndexEncoding) {
  const auto x = gaussian(100000, 3);
  std::size_t bytes = 0;
  const auto y = round_trip(fc::sparsifier::top_fraction(0.01), x, 0, &bytes);
  std::size_t kept = 0;
  double dropped = 0, total = 0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    total += double(x[i]) * x[i];
    if (y[i] != 0) {
      ++kept;
      EXPECT_EQ(y[i], x[i]);
    } else {
      dropped += double(x[i]) * x[i];
    }
  }
  EXPECT_EQ(kept, 1000U);
  EXPECT_LE(dropped, (1 - 0.01) * total); // ‖x − C(x)‖² ≤ (1 − k/D)‖x‖²
  // 1000 gaps of ~100 fit one varint byte each: far below the 12500-byte mask
  EXPECT_LT(bytes, 16 + 8 + 8 + 2 * 1000 + 4 * 1000);
  {
    std::vector<std::byte> p;
    fc::sparsifier::top_fraction(0.01).compress(x, 0, p);
    EXPECT_EQ(fc::peek_header(p).param, 0); // delta varints
  }
  // dense selections use the bitmask
  std::vector<std::byte> p;
  fc::sparsifier::top_fraction(0.5).compress(x, 0, p);
  EXPECT_EQ(fc::peek_header(p).param, 1);
  std::vector<float> z(x.size());
  fc::decode(p, z);
  EXPECT_EQ(std::count_if(z.begin(), z.end(), [](float v) { return v != 0; }), 50000);
}

TEST(CompressionSparsifier, RandomKIsUnbiasedAndThresholdKeepsLargeValues) {
  const auto x = gaussian(50, 6);
  const int draws = 4000;
  std::vector<double> mean(x.size(), 0.0);
  for (int s = 0; s < draws; ++s) {
    const auto y = round_trip(fc::sparsifier::random_fraction(0.2), x, 77 + static_cast<std::uint64_t>(s));
    EXPECT_EQ(std::count_if(y.begin(), y.end(), [](float v) { return v != 0; }), 10);
    for (std::size_t i = 0; i < x.size(); ++i) mean[i] += y[i];
  }
  for (std::size_t i = 0; i < x.size(); ++i) {
    const double sd = std::fabs(x[i]) * std::sqrt(50.0 / 10.0 - 1.0); // Var = x²(D/k − 1)
    EXPECT_LT(std::fabs(mean[i] / draws - x[i]), 5 * sd / std::sqrt(double(draws)) + 1e-6) << i;
  }
  const auto t = round_trip(fc::sparsifier::threshold(1.0F), x, 0);
  for (std::size_t i = 0; i < x.size(); ++i) EXPECT_EQ(t[i], std::fabs(x[i]) >= 1.0F ? x[i] : 0.0F);
}

TEST(CompressionCountSketch, IsLinear) {
  const std::size_t d = 10000;
  const auto a = gaussian(d, 1), b = gaussian(d, 2);
  std::vector<float> ab(d);
  for (std::size_t i = 0; i < d; ++i) ab[i] = a[i] + b[i];
  fc::count_sketch sa(5, 640, d, 9), sb(5, 640, d, 9), sab(5, 640, d, 9);
  sa.insert(a);
  sb.insert(b);
  sab.insert(ab);
  sa += sb;
  for (std::size_t i = 0; i < sa.table().size(); ++i) EXPECT_NEAR(sa.table()[i], sab.table()[i], 1e-3);
  fc::count_sketch other(5, 640, d, 10);
  EXPECT_THROW(sa += other, fedpp::invalid_config);
}

TEST(CompressionCountSketch, RecoversPlantedHeavyHitters) {
  const std::size_t d = 200000;
  auto x = gaussian(d, 3, 0.01F);
  const std::vector<std::uint32_t> planted{5, 999, 65432, 123457, 199999};
  for (std::size_t j = 0; j < planted.size(); ++j)
    x[planted[j]] = (j % 2 == 0 ? 1.0F : -1.0F) * (5.0F + float(j));
  fc::count_sketch s(5, 4096, d, 1234);
  s.insert(x);
  std::vector<std::uint32_t> idx;
  std::vector<float> val;
  s.top_k(planted.size(), idx, val);
  EXPECT_EQ(idx, planted);
  for (std::size_t j = 0; j < planted.size(); ++j) EXPECT_NEAR(val[j], x[planted[j]], 0.1);
  // and the payload round trip is exact
  std::vector<std::byte> p;
  s.serialize(p);
  EXPECT_EQ(p.size(), s.payload_bytes());
  const auto back = fc::count_sketch::deserialize(p);
  EXPECT_TRUE(std::equal(back.table().begin(), back.table().end(), s.table().begin()));
}

TEST(CompressionCountSketch, EstimatesAreUnbiasedOverSeeds) {
  const std::size_t d = 3000;
  const auto x = gaussian(d, 4);
  double sq = 0;
  for (float v : x) sq += double(v) * v;
  const int draws = 400;
  double mean = 0;
  for (int s = 0; s < draws; ++s) {
    fc::count_sketch sk(1, 64, d, 500 + static_cast<std::uint64_t>(s));
    sk.insert(x);
    mean += sk.estimate(7);
  }
  // one row: Var = Σ_{k≠7 colliding} x_k² ≈ ‖x‖²/(c) · ... ≤ ‖x‖²·64/64
  const double sd = std::sqrt(sq * 64.0 / 64.0 / 64.0);
  EXPECT_LT(std::fabs(mean / draws - x[7]), 5 * sd / std::sqrt(double(draws)));
}

TEST(CompressionErrorFeedback, ConservesSentPlusResidual) {
  fc::error_feedback<fc::sparsifier> ef(fc::sparsifier::top_fraction(0.05));
  const std::size_t d = 2000;
  std::vector<float> prev_residual(d, 0.0F), sent(d);
  for (int round = 0; round < 5; ++round) {
    const auto delta = gaussian(d, 10 + static_cast<std::uint64_t>(round));
    std::vector<std::byte> p;
    ef.compress(3, delta, 1, p, sent);
    const auto r = ef.residual(3);
    for (std::size_t i = 0; i < d; ++i)
      EXPECT_NEAR(sent[i] + r[i], delta[i] + prev_residual[i],
                  1e-6F * (1 + std::fabs(delta[i] + prev_residual[i])));
    std::vector<float> decoded(d);
    fc::decode(p, decoded);
    EXPECT_EQ(decoded, sent);
    prev_residual.assign(r.begin(), r.end());
  }
  EXPECT_EQ(ef.num_clients(), 1U);
  std::vector<std::byte> p;
  EXPECT_THROW(ef.compress(3, std::vector<float>(d + 1), 1, p), fedpp::invalid_config);
  EXPECT_TRUE(p.empty());
  EXPECT_EQ(ef.residual(3).size(), d);
}

TEST(CompressionErrorFeedback, ScaledSignConservesToo) {
  fc::error_feedback<fc::sign_compressor> ef(fc::sign_compressor(true, 64));
  const auto delta = gaussian(500, 1);
  std::vector<float> sent(500);
  std::vector<std::byte> p;
  ef.compress(1, delta, 0, p, sent);
  for (std::size_t i = 0; i < 500; ++i) EXPECT_NEAR(sent[i] + ef.residual(1)[i], delta[i], 1e-6);
}
