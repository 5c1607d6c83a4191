// The quantizers' inner loops on every instruction-set path this CPU runs, against plain
// double-precision references: sizes 0, 1, vector tails, unaligned starts, random data.
#include "fedpp/compression/detail/kernels.hpp"
#include "fedpp/kernels/dispatch.hpp"
#include "fedpp/random/rng.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

namespace fc = fedpp::compression;
namespace fk = fedpp::kernels;

namespace {

const std::vector<std::size_t> sizes{1, 2, 7, 15, 16, 17, 31, 33, 64, 100, 1027};
// The code and dequantize loops also take n = 0 (the range scan needs an element).
const std::vector<std::size_t> sizes_with_zero{0, 1, 2, 7, 15, 16, 17, 31, 33, 64, 100, 1027};
const std::vector<std::size_t> offsets{0, 1, 3};

std::vector<float> random_floats(std::size_t n, std::uint64_t seed) {
  fedpp::rng g(seed);
  std::vector<float> v(n);
  for (auto& x : v) x = static_cast<float>(8 * g.uniform() - 3);
  return v;
}

} // namespace

TEST(CompressionKernels, ScanRangeMatchesReferenceOnEveryPath) {
  for (const auto path : fk::available_isas())
    for (std::size_t n : sizes)
      for (std::size_t off : offsets) {
        const auto buf = random_floats(n + off, 10 * n + off);
        const float* x = buf.data() + off;
        double lo = x[0], hi = x[0];
        for (std::size_t i = 0; i < n; ++i) {
          lo = std::min<double>(lo, x[i]);
          hi = std::max<double>(hi, x[i]);
        }
        const auto r = fc::detail::scan_range_on(path, x, n);
        ASSERT_TRUE(r.finite) << fk::to_string(path) << " n=" << n;
        ASSERT_EQ(r.lo, static_cast<float>(lo)) << fk::to_string(path) << " n=" << n << " off=" << off;
        ASSERT_EQ(r.hi, static_cast<float>(hi)) << fk::to_string(path) << " n=" << n << " off=" << off;
      }
}

TEST(CompressionKernels, ScanRangeFindsNaNAndInfAnywhere) {
  for (const auto path : fk::available_isas())
    for (std::size_t n : sizes)
      for (std::size_t at : {std::size_t{0}, n / 2, n - 1})
        for (float bad : {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(),
                          -std::numeric_limits<float>::infinity()}) {
          auto buf = random_floats(n + 1, n);
          buf[1 + at] = bad;
          EXPECT_FALSE(fc::detail::scan_range_on(path, buf.data() + 1, n).finite)
              << fk::to_string(path) << " n=" << n << " at=" << at << " value=" << bad;
        }
}

TEST(CompressionKernels, QuantizeCodesMatchReferenceOnEveryPath) {
  // Codes must be ⌊t⌋ with t = (x − lo)/Δ + u computed in double; paths that fuse the multiply-
  // add may round t differently, so within 1e-4 of an integer either neighbour is accepted.
  const fc::counter_key key = fc::counter_key::from_seed(42);
  for (const auto path : fk::available_isas())
    for (std::uint32_t levels : {1U, 3U, 15U, 255U})
      for (std::size_t n : sizes_with_zero)
        for (std::size_t off : offsets) {
          const auto buf = random_floats(n + off, 3 * n + off + levels);
          const float* x = buf.data() + off;
          const auto r = n == 0 ? fc::detail::chunk_range{0, 1, true}
                                : fc::detail::scan_range_on(fk::isa::compiled, x, n);
          const float step = (r.hi - r.lo) / static_cast<float>(levels);
          const float inv = step > 0 ? 1.0F / step : 0.0F;
          const std::uint64_t first = 1000 + off; // any index; draws depend on it
          std::vector<std::uint8_t> stochastic(n), nearest(n);
          fc::detail::quantize_codes_on<true>(path, x, n, r.lo, inv, levels, key, first, stochastic.data());
          fc::detail::quantize_codes_on<false>(path, x, n, r.lo, inv, levels, key, first, nearest.data());
          for (std::size_t i = 0; i < n; ++i) {
            const double base = (static_cast<double>(x[i]) - r.lo) * inv;
            const double u = fc::unit_uniform(fc::counter_hash(key, first + i));
            for (const auto& [code, t] :
                 {std::pair{stochastic[i], base + u}, std::pair{nearest[i], base + 0.5}}) {
              const double clamped = std::min(t, static_cast<double>(levels));
              const double expected = std::floor(clamped);
              const bool near_integer = std::abs(clamped - std::round(clamped)) < 1e-4;
              ASSERT_LE(code, levels);
              if (near_integer)
                ASSERT_LE(std::abs(code - expected), 1.0) << fk::to_string(path) << " n=" << n << " i=" << i;
              else
                ASSERT_EQ(code, expected) << fk::to_string(path) << " n=" << n << " i=" << i << " t=" << t;
            }
          }
        }
}

TEST(CompressionKernels, DequantizeAccumulateMatchesReferenceOnEveryPath) {
  for (const auto path : fk::available_isas())
    for (std::size_t n : sizes_with_zero)
      for (std::size_t off : offsets) {
        fedpp::rng g(n + 7 * off);
        std::vector<std::uint8_t> codes(n + off);
        for (auto& c : codes) c = static_cast<std::uint8_t>(g.uniform() * 256);
        auto acc = random_floats(n + off, n);
        const auto before = acc;
        const float a = -1.25F, b = 0.0078125F;
        fc::detail::dequantize_accumulate_on(path, codes.data() + off, n, a, b, acc.data() + off);
        for (std::size_t i = 0; i < off; ++i) ASSERT_EQ(acc[i], before[i]);
        for (std::size_t i = 0; i < n; ++i) {
          const double ref = before[off + i] + (a + static_cast<double>(b) * codes[off + i]);
          ASSERT_NEAR(acc[off + i], ref, 1e-6 * (1 + std::abs(ref))) << fk::to_string(path) << " n=" << n;
        }
      }
}
