// Partitioners: exact coverage, determinism, statistical skew at fixed seeds, invalid input.
#include "fedpp/random/rng.hpp"
#include "fedpp/simulation/partitioners.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <numeric>
#include <set>
#include <vector>

using namespace fedpp::simulation;

namespace {

/// Balanced labels 0..classes−1, `per_class` each, in a scrambled order.
std::vector<std::uint8_t> balanced_labels(std::size_t classes, std::size_t per_class) {
  std::vector<std::uint8_t> labels(classes * per_class);
  for (std::size_t i = 0; i < labels.size(); ++i) labels[i] = static_cast<std::uint8_t>((i * 7919) % classes);
  return labels;
}

void expect_exact_cover(const partition& parts, std::size_t n) {
  std::vector<int> seen(n, 0);
  for (const auto& client : parts)
    for (auto i : client) {
      ASSERT_LT(i, n);
      ++seen[i];
    }
  for (std::size_t i = 0; i < n; ++i) ASSERT_EQ(seen[i], 1) << "example " << i;
}

/// Fraction of a client's examples in its most frequent `top` classes.
double top_share(const std::vector<std::size_t>& client, const std::vector<std::uint8_t>& labels,
                 std::size_t top) {
  std::vector<std::size_t> counts(10, 0);
  for (auto i : client) ++counts[labels[i]];
  std::sort(counts.rbegin(), counts.rend());
  return static_cast<double>(
             std::accumulate(counts.begin(), counts.begin() + static_cast<long>(top), std::size_t{0})) /
         static_cast<double>(client.size());
}

} // namespace

TEST(PartitionIid, CoversEvenlyAndDeterministically) {
  for (std::size_t n : {0U, 1U, 7U, 1000U, 1003U}) {
    const auto parts = partition_iid(n, 10, 42);
    ASSERT_EQ(parts.size(), 10U);
    expect_exact_cover(parts, n);
    for (const auto& c : parts) {
      EXPECT_GE(c.size(), n / 10);
      EXPECT_LE(c.size(), n / 10 + 1);
    }
    EXPECT_EQ(parts, partition_iid(n, 10, 42));
  }
  EXPECT_NE(partition_iid(1000, 10, 1), partition_iid(1000, 10, 2));
  // Random, not contiguous: client 0 of 1000/10 is not {0..99}.
  EXPECT_NE(partition_iid(1000, 10, 1)[0].back(), 99U);
  EXPECT_THROW((void)partition_iid(10, 0, 1), fedpp::invalid_config);
}

TEST(PartitionDirichlet, CoversAndIsDeterministic) {
  const auto labels = balanced_labels(10, 300);
  for (double alpha : {0.05, 0.5, 100.0}) {
    const auto parts = partition_dirichlet(labels, 20, alpha, 7);
    ASSERT_EQ(parts.size(), 20U);
    expect_exact_cover(parts, labels.size());
    for (const auto& c : parts) EXPECT_GE(c.size(), 1U);
    EXPECT_EQ(parts, partition_dirichlet(labels, 20, alpha, 7));
  }
  EXPECT_NE(partition_dirichlet(labels, 20, 0.5, 1), partition_dirichlet(labels, 20, 0.5, 2));
}

TEST(PartitionDirichlet, MinimumPerClientIsHonoured) {
  const auto labels = balanced_labels(10, 100);
  // α = 0.01 with 50 clients leaves most clients empty before the top-up.
  const auto parts = partition_dirichlet(labels, 50, 0.01, 3, 10);
  expect_exact_cover(parts, labels.size());
  for (const auto& c : parts) EXPECT_GE(c.size(), 10U);
  // min 0: empty clients are allowed and do occur at this α.
  const auto raw = partition_dirichlet(labels, 50, 0.01, 3, 0);
  expect_exact_cover(raw, labels.size());
  EXPECT_TRUE(std::any_of(raw.begin(), raw.end(), [](const auto& c) { return c.empty(); }));
}

TEST(PartitionDirichlet, SmallAlphaSkewsLargeAlphaIsNearUniform) {
  const auto labels = balanced_labels(10, 600); // 6,000 examples, 30 clients
  const auto skewed = partition_dirichlet(labels, 30, 0.1, 11);
  const auto mixed = partition_dirichlet(labels, 30, 1000.0, 11);
  std::size_t dominated = 0;
  double mixed_top2 = 0;
  for (std::size_t k = 0; k < 30; ++k) {
    if (top_share(skewed[k], labels, 2) > 0.8) ++dominated;
    mixed_top2 += top_share(mixed[k], labels, 2) / 30;
  }
  // Dir(0.1) over 30 clients: nearly every client's data is ≥ 80% two classes.
  EXPECT_GE(dominated, 24U);
  // Dir(1000): each class ≈ 10% of each client (top-2 ≈ 0.2 plus sampling noise).
  EXPECT_LT(mixed_top2, 0.3);
  // Large α also gives near-equal sizes (≈ 200 each).
  for (const auto& c : mixed) {
    EXPECT_GT(c.size(), 150U);
    EXPECT_LT(c.size(), 250U);
  }
}

TEST(PartitionDirichlet, InvalidParameters) {
  const auto labels = balanced_labels(10, 10);
  EXPECT_THROW((void)partition_dirichlet(labels, 0, 0.5, 1), fedpp::invalid_config);
  EXPECT_THROW((void)partition_dirichlet(labels, 5, 0.0, 1), fedpp::invalid_config);
  EXPECT_THROW((void)partition_dirichlet(labels, 5, -1.0, 1), fedpp::invalid_config);
  EXPECT_THROW((void)partition_dirichlet(labels, 5, std::numeric_limits<double>::infinity(), 1),
               fedpp::invalid_config);
  EXPECT_THROW((void)partition_dirichlet(labels, 101, 0.5, 1), fedpp::invalid_config); // 100 < 101 × 1
  EXPECT_THROW((void)partition_dirichlet(labels, 10, 0.5, 1, 11), fedpp::invalid_config);
}

TEST(PartitionShards, AtMostCClassesPerClient) {
  const auto labels = balanced_labels(10, 600); // 6,000; 100 clients × 2 shards of 30
  const auto parts = partition_shards(labels, 100, 2, 5);
  expect_exact_cover(parts, labels.size());
  std::size_t two_classes = 0;
  for (const auto& c : parts) {
    EXPECT_EQ(c.size(), 60U);
    std::set<std::uint8_t> classes;
    for (auto i : c) classes.insert(labels[i]);
    EXPECT_LE(classes.size(), 2U);
    two_classes += classes.size() == 2 ? 1 : 0;
  }
  // Shards are assigned at random: most clients get two different classes (P(same) ≈ 0.1).
  EXPECT_GT(two_classes, 75U);
  EXPECT_EQ(parts, partition_shards(labels, 100, 2, 5));
  EXPECT_NE(parts, partition_shards(labels, 100, 2, 6));
}

TEST(PartitionShards, UnevenSizesStillCoverExactlyOnce) {
  const auto labels = balanced_labels(3, 11); // 33 examples into 4 × 2 = 8 shards
  const auto parts = partition_shards(labels, 4, 2, 9);
  expect_exact_cover(parts, labels.size());
  for (const auto& c : parts) {
    EXPECT_GE(c.size(), 8U);
    EXPECT_LE(c.size(), 10U);
  }
}

TEST(PartitionShards, InvalidParameters) {
  const auto labels = balanced_labels(10, 2);
  EXPECT_THROW((void)partition_shards(labels, 0, 2, 1), fedpp::invalid_config);
  EXPECT_THROW((void)partition_shards(labels, 5, 0, 1), fedpp::invalid_config);
  EXPECT_THROW((void)partition_shards(labels, 11, 2, 1), fedpp::invalid_config); // 22 shards > 20 examples
  EXPECT_NO_THROW((void)partition_shards(labels, 10, 2, 1));
}

TEST(PartitionQuantitySkew, SizesSkewLabelsStayIid) {
  const std::size_t n = 10000;
  const auto skewed = partition_quantity_skew(n, 20, 0.3, 4);
  expect_exact_cover(skewed, n);
  std::vector<std::size_t> sizes;
  for (const auto& c : skewed) sizes.push_back(c.size());
  std::sort(sizes.rbegin(), sizes.rend());
  // Dir(0.3) over 20: the 4 largest clients hold more than half of the data.
  EXPECT_GT(sizes[0] + sizes[1] + sizes[2] + sizes[3], n / 2);
  EXPECT_GE(sizes.back(), 1U);
  const auto even = partition_quantity_skew(n, 20, 1000.0, 4);
  for (const auto& c : even) {
    EXPECT_GT(c.size(), 400U);
    EXPECT_LT(c.size(), 600U);
  }
  // Labels IID: the largest client's class mix is near uniform.
  const auto labels = balanced_labels(10, 1000);
  const auto largest = *std::max_element(skewed.begin(), skewed.end(),
                                         [](const auto& a, const auto& b) { return a.size() < b.size(); });
  EXPECT_LT(top_share(largest, labels, 2), 0.3);
  EXPECT_EQ(skewed, partition_quantity_skew(n, 20, 0.3, 4));
  EXPECT_THROW((void)partition_quantity_skew(n, 0, 0.3, 4), fedpp::invalid_config);
  EXPECT_THROW((void)partition_quantity_skew(n, 20, 0.0, 4), fedpp::invalid_config);
  EXPECT_THROW((void)partition_quantity_skew(10, 20, 1.0, 4), fedpp::invalid_config);
}
