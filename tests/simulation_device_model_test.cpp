// Device heterogeneity: determinism, class shares, duration and dropout distributions at a
// fixed seed, validation.
#include "fedpp/simulation/device_availability.hpp"
#include "fedpp/simulation/device_model.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <vector>

using namespace fedpp::simulation;

TEST(DeviceModel, DeterministicUnderSeed) {
  const device_model a(device_model::default_classes(), 5), b(device_model::default_classes(), 5),
      c(device_model::default_classes(), 6);
  std::size_t differs = 0;
  for (fedpp::client_id k = 0; k < 200; ++k) {
    EXPECT_EQ(a.class_index(k), b.class_index(k));
    EXPECT_EQ(a.drops_out(k, 3), b.drops_out(k, 3));
    EXPECT_EQ(a.simulated_duration(k, 3, 600, 2).count(), b.simulated_duration(k, 3, 600, 2).count());
    // The same question asked twice gives the same answer (no hidden state).
    EXPECT_EQ(a.simulated_duration(k, 3, 600, 2).count(), a.simulated_duration(k, 3, 600, 2).count());
    differs += a.simulated_duration(k, 3, 600, 2) != c.simulated_duration(k, 3, 600, 2) ? 1 : 0;
    // Rounds are independent draws.
    differs += a.simulated_duration(k, 3, 600, 2) != a.simulated_duration(k, 4, 600, 2) ? 1 : 0;
  }
  EXPECT_EQ(differs, 400U);
}

TEST(DeviceModel, ClassSharesFollowWeights) {
  const device_model m(device_model::default_classes(), 1); // shares 0.2 / 0.5 / 0.3
  std::vector<double> counts(3, 0);
  const int n = 20000;
  for (int k = 0; k < n; ++k) ++counts[m.class_index(static_cast<fedpp::client_id>(k))];
  const double expected[3] = {0.2, 0.5, 0.3};
  for (int c = 0; c < 3; ++c) {
    const double sd = std::sqrt(expected[c] * (1 - expected[c]) / n);
    EXPECT_NEAR(counts[c] / n, expected[c], 4 * sd) << "class " << c;
  }
}

TEST(DeviceModel, DurationMatchesTheModel) {
  // One class: 100 ex/s, jitter σ = 0.5 (mean 1), network delay mean 2 s, 1000 B/s.
  const device_model m({{"only", 1, 100, 0.5, 2.0, 1000, 0}}, 9);
  const int n = 20000;
  double sum = 0;
  for (int k = 0; k < n; ++k)
    sum += m.simulated_duration(static_cast<fedpp::client_id>(k), 0, 300, 2, 500).count();
  // E[t] = 600/100 · 1 + 2 + 500/1000 = 8.5 s; sd of t = √(6²(e^{0.25} − 1) + 2²) ≈ 3.8.
  EXPECT_NEAR(sum / n, 8.5, 4 * 3.8 / std::sqrt(n));

  // Jitter alone: log(t / compute) ~ N(−σ²/2, σ²).
  const device_model jitter_only({{"j", 1, 100, 0.5, 0, 1e9, 0}}, 3);
  double s1 = 0, s2 = 0;
  for (int k = 0; k < n; ++k) {
    const double l =
        std::log(jitter_only.simulated_duration(static_cast<fedpp::client_id>(k), 5, 100, 1).count());
    s1 += l;
    s2 += l * l;
  }
  const double mean = s1 / n, var = s2 / n - mean * mean;
  EXPECT_NEAR(mean, -0.125, 4 * 0.5 / std::sqrt(n));
  EXPECT_NEAR(std::sqrt(var), 0.5, 0.02);

  // Delay alone: exponential, so P(t > mean) = e^{−1}.
  const device_model delay_only({{"d", 1, 1e12, 0, 2.0, 1e12, 0}}, 4);
  int above = 0;
  for (int k = 0; k < n; ++k)
    above += delay_only.simulated_duration(static_cast<fedpp::client_id>(k), 1, 1, 1).count() > 2.0;
  EXPECT_NEAR(static_cast<double>(above) / n, std::exp(-1.0), 4 * std::sqrt(0.23 / n));
  // No jitter, no delay: exact.
  const device_model exact({{"exact", 1, 50, 0, 0, 1e6, 0}}, 1);
  EXPECT_DOUBLE_EQ(exact.simulated_duration(7, 2, 100, 3).count(), 6.0);
  EXPECT_DOUBLE_EQ(exact.simulated_duration(7, 2, 100, 3, 2'000'000).count(), 8.0);
  EXPECT_DOUBLE_EQ(exact.simulated_duration(7, 2, 0, 3).count(), 0.0);
}

TEST(DeviceModel, SlowerClassesTakeLonger) {
  const device_model m(device_model::default_classes(), 2);
  std::vector<double> sum(3, 0), count(3, 0);
  for (fedpp::client_id k = 0; k < 3000; ++k) {
    const auto c = m.class_index(k);
    sum[c] += m.simulated_duration(k, 1, 600, 1).count();
    ++count[c];
  }
  EXPECT_LT(sum[0] / count[0], sum[1] / count[1]);
  EXPECT_LT(sum[1] / count[1], sum[2] / count[2]);
}

TEST(DeviceModel, DropoutRate) {
  const device_model m(
      {{"a", 1, 100, 0, 0, 1, 0.1}, {"b", 1, 100, 0, 0, 1, 0.0}, {"c", 1, 100, 0, 0, 1, 1.0}}, 4);
  std::vector<double> drops(3, 0), total(3, 0);
  for (fedpp::client_id k = 0; k < 300; ++k)
    for (std::uint64_t r = 0; r < 100; ++r) {
      const auto c = m.class_index(k);
      drops[c] += m.drops_out(k, r) ? 1 : 0;
      ++total[c];
    }
  EXPECT_NEAR(drops[0] / total[0], 0.1, 4 * std::sqrt(0.09 / total[0]));
  EXPECT_EQ(drops[1], 0);
  EXPECT_EQ(drops[2], total[2]);
}

TEST(DeviceModel, InvalidClasses) {
  using fedpp::invalid_config;
  EXPECT_THROW(device_model({}, 1), invalid_config);
  EXPECT_THROW(device_model({{"x", 0, 100, 0, 0, 1, 0}}, 1), invalid_config);
  EXPECT_THROW(device_model({{"x", 1, 0, 0, 0, 1, 0}}, 1), invalid_config);
  EXPECT_THROW(device_model({{"x", 1, 100, -1, 0, 1, 0}}, 1), invalid_config);
  EXPECT_THROW(device_model({{"x", 1, 100, 0, -1, 1, 0}}, 1), invalid_config);
  EXPECT_THROW(device_model({{"x", 1, 100, 0, 0, 0, 0}}, 1), invalid_config);
  EXPECT_THROW(device_model({{"x", 1, 100, 0, 0, 1, 1.5}}, 1), invalid_config);
  try {
    device_model({{"tablet", 1, 100, 0, 0, 1, 2}}, 1);
  } catch (const invalid_config& e) {
    EXPECT_NE(std::string(e.what()).find("'tablet'"), std::string::npos);
  }
}

TEST(DeviceAvailability, ForecastsFromTheDeviceModel) {
  const device_model m(device_model::default_classes(), 3);
  const device_availability a(m, {600, 300, 0}, 1000);
  fedpp::round_config rc;
  rc.round = 4;
  rc.local_epochs = 2;
  for (fedpp::client_id k = 0; k < 3; ++k) {
    const auto f = a.forecast(k, 4, rc);
    EXPECT_EQ(f.drops_out, m.drops_out(k, 4));
    const std::size_t n = k == 0 ? 600 : k == 1 ? 300 : 0;
    EXPECT_NEAR(std::chrono::duration<double>(f.duration).count(),
                m.simulated_duration(k, 4, n, 2, 1000).count(), 1e-9);
  }
  EXPECT_THROW((void)a.forecast(3, 4, rc), fedpp::invalid_config);
}
