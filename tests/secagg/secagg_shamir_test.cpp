// Shamir t-of-n over GF(2^61 − 1): reconstruction from any ≥ t shares in any order (property test
// over random thresholds, point sets and subsets), refusal below t, and detection of any one
// corrupted share beyond the first t, against a direct O(t²) Lagrange reference.
#include "secagg_sim.hpp"

#include "fedpp/secagg/shamir.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>

using namespace secagg_test;
namespace sd = fedpp::secagg::detail;

namespace {

// Reference: f(0) = Σ_i y_i Π_{m≠i} x_m / (x_m − x_i), each term with its own inversion.
std::uint64_t reference_at_zero(const std::vector<shamir_share>& s, std::size_t word) {
  std::uint64_t acc = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    std::uint64_t num = 1, den = 1;
    for (std::size_t m = 0; m < s.size(); ++m) {
      if (m == i) continue;
      num = sd::fmul(num, s[m].x);
      den = sd::fmul(den, sd::fsub(s[m].x, s[i].x));
    }
    acc = sd::fadd(acc, sd::fmul(s[i].y[word], sd::fmul(num, sd::finv(den))));
  }
  return acc;
}

} // namespace

TEST(secagg_shamir, random_thresholds_points_and_subsets_reconstruct) {
  std::mt19937_64 gen(61);
  auto rng = fedpp::secagg::random_source::reproducible(seed_of(61));
  for (int trial = 0; trial < 40; ++trial) {
    SCOPED_TRACE(trial);
    const std::size_t n = 2 + gen() % 39;
    const std::size_t t = 2 + gen() % (n - 1); // t ≥ 2: thresholds of 1 are refused
    std::vector<std::uint64_t> xs;
    while (xs.size() < n) { // ids + 1 as the protocol uses, some near 2^60
      const std::uint64_t x = 1 + (trial % 2 == 0 ? gen() % 200 : gen() % (std::uint64_t{1} << 60));
      if (std::find(xs.begin(), xs.end(), x) == xs.end()) xs.push_back(x);
    }
    const auto secret = rng.key();
    auto shares = shamir_split(secret, t, xs, rng);
    std::shuffle(shares.begin(), shares.end(), gen);
    const std::size_t k = t + gen() % (n - t + 1); // any k ≥ t shares
    const std::vector<shamir_share> subset(shares.begin(), shares.begin() + static_cast<std::ptrdiff_t>(k));
    EXPECT_EQ(shamir_reconstruct(subset, t), secret);
    const auto words = sd::secret_to_words(secret);
    const std::vector<shamir_share> first_t(subset.begin(), subset.begin() + static_cast<std::ptrdiff_t>(t));
    for (std::size_t j = 0; j < shamir_words; ++j) EXPECT_EQ(reference_at_zero(first_t, j), words[j]);
    EXPECT_THROW((void)shamir_reconstruct(std::span(subset).first(t - 1), t), invalid_config);
    // Any one corrupted share beyond the first t is caught.
    for (std::size_t i = t; i < k; ++i) {
      auto bad = subset;
      bad[i].y[gen() % shamir_words] ^= std::uint64_t{1} << (gen() % 60);
      EXPECT_THROW((void)shamir_reconstruct(bad, t), malformed_message);
    }
  }
}

TEST(secagg_shamir, batch_inversion_matches_single_inversions) {
  std::mt19937_64 gen(3);
  for (const std::size_t n : {std::size_t{0}, std::size_t{1}, std::size_t{2}, std::size_t{17}}) {
    std::vector<std::uint64_t> v(n);
    for (auto& x : v) x = 1 + gen() % (shamir_prime - 1);
    auto inv = v;
    sd::batch_invert(inv);
    for (std::size_t i = 0; i < n; ++i) {
      EXPECT_EQ(inv[i], sd::finv(v[i]));
      EXPECT_EQ(sd::fmul(inv[i], v[i]), 1U);
    }
  }
}
