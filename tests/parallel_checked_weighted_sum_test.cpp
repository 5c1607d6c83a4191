// weighted_sum_checked on a thread pool (the pooled FedAvg batch's fold): against a
// double-precision reference and bitwise against the serial kernel, on sizes 0, 1, odd tails
// around the 8192-element blocks that are the threads' chunk unit, unaligned starts, every pool
// size; a NaN/Inf anywhere is reported as the serial kernel reports it, `base` untouched.
#include "fedpp/detail/aligned_buffer.hpp"
#include "fedpp/kernels/checked_weighted_sum.hpp"
#include "fedpp/parallel/kernels.hpp"
#include "fedpp/parallel/thread_pool.hpp"
#include "fedpp/random/rng.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstddef>
#include <limits>
#include <span>
#include <vector>

namespace {

std::vector<float> uniform_floats(std::size_t n, std::uint64_t seed) {
  fedpp::rng g(seed);
  std::vector<float> v(n);
  for (auto& x : v) x = static_cast<float>(g.uniform() * 2.0 - 1.0);
  return v;
}

} // namespace

TEST(ParallelCheckedWeightedSum, MatchesSerialBitForBitAndTheDoubleReference) {
  constexpr std::size_t k = 11; // a group of 8, then 2, then 1 inputs per pass
  const std::size_t max_n = 3 * 8192 + 77;
  std::vector<std::vector<float>> data;
  for (std::size_t j = 0; j < k; ++j) data.push_back(uniform_floats(max_n + 3, 10 + j));
  const auto base_data = uniform_floats(max_n + 3, 99);
  std::vector<double> weights(k);
  for (std::size_t j = 0; j < k; ++j) weights[j] = 0.5 + static_cast<double>(j);
  for (const std::size_t n : {std::size_t{0}, std::size_t{1}, std::size_t{7}, std::size_t{8191},
                              std::size_t{8192}, std::size_t{8193}, std::size_t{2 * 8192 + 13}, max_n}) {
    for (const std::size_t offset : {std::size_t{0}, std::size_t{1}, std::size_t{3}}) {
      std::vector<std::span<const float>> inputs;
      for (const auto& d : data) inputs.emplace_back(d.data() + offset, n);
      std::vector<double> base(n);
      for (std::size_t i = 0; i < n; ++i) base[i] = static_cast<double>(base_data[i + offset]);
      std::vector<double> serial(n, -1.0);
      ASSERT_FALSE((fedpp::kernels::weighted_sum_checked<double, float>(serial, base, inputs, weights)));
      for (std::size_t i = 0; i < n; ++i) {
        long double ref = base[i], mag = std::fabs(base[i]);
        for (std::size_t j = 0; j < k; ++j) {
          ref += static_cast<long double>(weights[j]) * inputs[j][i];
          mag += std::fabs(weights[j] * inputs[j][i]);
        }
        ASSERT_LE(std::fabs(static_cast<double>(serial[i] - ref)), static_cast<double>(mag) * 0x1p-50)
            << n << " " << i;
      }
      for (const std::size_t threads : {std::size_t{1}, std::size_t{2}, std::size_t{3}, std::size_t{4}}) {
        fedpp::parallel::thread_pool pool(threads);
        std::vector<double> pooled(n, -2.0);
        ASSERT_FALSE(
            (fedpp::kernels::weighted_sum_checked<double, float>(pool, pooled, base, inputs, weights)));
        ASSERT_EQ(pooled, serial) << "n = " << n << ", offset " << offset << ", " << threads << " threads";
        // In place (out == base): the same sums.
        std::vector<double> in_place = base;
        ASSERT_FALSE((fedpp::kernels::weighted_sum_checked<double, float>(
            pool, std::span<double>(in_place), std::span<const double>(in_place), inputs, weights)));
        ASSERT_EQ(in_place, serial) << "in place, n = " << n << ", " << threads << " threads";
      }
    }
  }
}

TEST(ParallelCheckedWeightedSum, ReportsTheFirstNonFiniteElementAndLeavesBase) {
  const std::size_t n = 4 * 8192 + 5;
  std::vector<std::vector<float>> data;
  for (std::size_t j = 0; j < 5; ++j) data.push_back(uniform_floats(n, 40 + j));
  data[3][3 * 8192 + 1] = std::numeric_limits<float>::infinity(); // the last chunk of 4 threads
  data[4][2] = std::numeric_limits<float>::quiet_NaN();           // the first chunk, a later input
  data[3][n - 1] = -std::numeric_limits<float>::infinity();
  std::vector<std::span<const float>> inputs(data.begin(), data.end());
  const std::vector<double> weights(5, 1.0);
  const std::vector<double> base(n, 0.25);
  for (const std::size_t threads : {std::size_t{1}, std::size_t{2}, std::size_t{4}}) {
    fedpp::parallel::thread_pool pool(threads);
    std::vector<double> out(n);
    const auto bad = fedpp::kernels::weighted_sum_checked<double, float>(pool, out, base, inputs, weights);
    ASSERT_TRUE(bad.has_value());
    EXPECT_EQ(*bad, (fedpp::kernels::non_finite_element{3, 3 * 8192 + 1})) << threads;
    EXPECT_EQ(base, std::vector<double>(n, 0.25));
  }
}
