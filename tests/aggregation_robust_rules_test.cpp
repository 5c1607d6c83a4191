// Byzantine-robust aggregators: each against a naive double-precision reference on random K and
// D (odd sizes included), hand-checked cases, merge, the memory budget and invalid parameters.
#include "fedpp/aggregation/robust/robust.hpp"
#include "fedpp/detail/aligned_buffer.hpp"
#include "fedpp/parallel/thread_pool.hpp"
#include "fedpp/random/rng.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <string>
#include <vector>

namespace {

using fedpp::client_update;
using fedpp::flat_model;
using fedpp::model_layout;

model_layout layout_of(std::size_t dim) {
  model_layout layout;
  const std::size_t head = dim / 3;
  layout.add("w", {dim - head}).add("b", {head});
  return layout;
}

std::vector<flat_model<float>> random_models(const model_layout& layout, std::size_t count,
                                             std::uint64_t seed) {
  fedpp::rng gen(seed);
  std::vector<flat_model<float>> models;
  for (std::size_t k = 0; k < count; ++k) {
    auto& m = models.emplace_back(layout);
    for (auto& v : m.span()) v = static_cast<float>(gen.uniform() * 2.0 - 1.0);
  }
  return models;
}

// The K × dim update_matrix of `models` (weight 1 each), as the robust aggregators hold them.
fedpp::update_matrix<float> matrix_of(const std::vector<flat_model<float>>& models, std::size_t dim) {
  fedpp::update_matrix<float> x(dim);
  x.reserve_more(models.size(), "test");
  for (std::size_t i = 0; i < models.size(); ++i) {
    const std::span<const float> piece[1] = {models[i].span()};
    x.append(i, 1.0, piece);
  }
  return x;
}

template <class Agg>
void feed(Agg& agg, const std::vector<flat_model<float>>& models, const std::vector<double>& weights = {}) {
  for (std::size_t k = 0; k < models.size(); ++k)
    agg.accumulate(client_update<float>::from_flat(k, models[k].layout(), models[k].span(),
                                                   weights.empty() ? 1.0 : weights[k]));
}

std::vector<double> column(const std::vector<flat_model<float>>& models, std::size_t d) {
  std::vector<double> c;
  for (const auto& m : models) c.push_back(m.span()[d]);
  std::sort(c.begin(), c.end());
  return c;
}

double sum_abs(const std::vector<double>& c) {
  double s = 0;
  for (double v : c) s += std::abs(v);
  return s;
}

const std::vector<std::size_t> ks{1, 2, 3, 4, 5, 8, 9, 16, 17, 31, 32, 33, 64, 70};
const std::vector<std::size_t> dims{1, 7, 13, 37, 1027};

TEST(CoordinateMedian, MatchesSortingReference) {
  for (std::size_t k : ks)
    for (std::size_t dim : dims) {
      const auto layout = layout_of(dim);
      const auto models = random_models(layout, k, 100 * k + dim);
      fedpp::coordinate_median<float> agg(layout);
      feed(agg, models);
      const auto out = std::move(agg).report();
      for (std::size_t d = 0; d < dim; ++d) {
        const auto c = column(models, d);
        const double ref = k % 2 == 1 ? c[k / 2] : 0.5 * (c[k / 2 - 1] + c[k / 2]);
        ASSERT_EQ(out.span()[d], static_cast<float>(ref)) << "K=" << k << " D=" << dim << " d=" << d;
      }
    }
}

TEST(CoordinateMedian, EvenCountAveragesTheTwoMiddleValues) {
  const auto layout = layout_of(3);
  std::vector<flat_model<float>> models;
  for (float base : {4.0F, 1.0F, 3.0F, 10.0F}) {
    auto& m = models.emplace_back(layout);
    m.span()[0] = base;
    m.span()[1] = -base;
    m.span()[2] = 7;
  }
  fedpp::coordinate_median<float> agg(layout);
  feed(agg, models, {1, 100, 1, 1}); // weights are ignored
  const auto out = std::move(agg).report();
  EXPECT_EQ(out.span()[0], 3.5F); // sorted 1 3 4 10
  EXPECT_EQ(out.span()[1], -3.5F);
  EXPECT_EQ(out.span()[2], 7.0F);
}

TEST(TrimmedMean, MatchesSortingReference) {
  for (double beta : {0.0, 0.1, 0.2, 0.34, 0.49})
    for (std::size_t k : ks)
      for (std::size_t dim : dims) {
        const fedpp::trimmed_mean_rule rule({.beta = beta});
        const std::size_t t = rule.trim(k);
        if (2 * t >= k) continue;
        const auto layout = layout_of(dim);
        const auto models = random_models(layout, k, 7 * k + dim);
        fedpp::trimmed_mean<float> agg(layout, rule);
        feed(agg, models);
        const auto out = std::move(agg).report();
        for (std::size_t d = 0; d < dim; ++d) {
          const auto c = column(models, d);
          const std::vector<double> kept(c.begin() + static_cast<std::ptrdiff_t>(t),
                                         c.end() - static_cast<std::ptrdiff_t>(t));
          const double ref =
              std::accumulate(kept.begin(), kept.end(), 0.0) / static_cast<double>(kept.size());
          ASSERT_NEAR(out.span()[d], ref, 1e-6 * (1 + sum_abs(kept) / static_cast<double>(kept.size())))
              << "beta=" << beta << " K=" << k << " D=" << dim;
        }
      }
}

TEST(TrimmedMean, RoundsTheCutDownAsFlower) {
  // n = 9, beta = 0.2: t = floor(1.8) = 1, so the mean of the middle 7 values.
  const auto layout = layout_of(1);
  std::vector<flat_model<float>> models;
  for (float v : {9.0F, -100.0F, 1.0F, 2.0F, 3.0F, 4.0F, 5.0F, 6.0F, 100.0F})
    models.emplace_back(layout).span()[0] = v;
  fedpp::trimmed_mean<float> agg(layout, {.beta = 0.2});
  feed(agg, models);
  EXPECT_FLOAT_EQ(std::move(agg).report().span()[0], (1 + 2 + 3 + 4 + 5 + 6 + 9) / 7.0F);
}

TEST(TrimmedMean, InvalidParameters) {
  EXPECT_THROW(fedpp::trimmed_mean_rule({.beta = 0.5}), fedpp::invalid_config);
  EXPECT_THROW(fedpp::trimmed_mean_rule({.beta = -0.1}), fedpp::invalid_config);
  EXPECT_THROW(fedpp::trimmed_mean<float>(layout_of(4), {.beta = 0.7}), fedpp::invalid_config);
  const auto layout = layout_of(4);
  fedpp::trimmed_mean<float> agg(layout, {.beta = 0.49});
  feed(agg, random_models(layout, 2, 1)); // t = floor(0.98) = 0: fine
  EXPECT_TRUE(agg.can_report());
  EXPECT_NO_THROW(agg.report_into(flat_model<float>(layout).span()));
  // β < 0.5 leaves 2t < n for every n >= 1; only an empty round cannot report.
  const fedpp::trimmed_mean_rule rule({.beta = 0.4});
  EXPECT_FALSE(rule.problem(5));                                      // t = 2, 2t = 4 < 5
  EXPECT_FALSE(rule.problem(2));                                      // t = 0
  EXPECT_FALSE(fedpp::trimmed_mean_rule({.beta = 0.45}).problem(20)); // t = 9
  ASSERT_TRUE(rule.problem(0));
  EXPECT_NE(rule.problem(0)->find("n = 0"), std::string::npos) << *rule.problem(0);
}

// Naive Krum: direct double distances, scores over n − f − 2 nearest, lowest first.
std::vector<std::size_t> naive_krum(const std::vector<flat_model<float>>& x, std::size_t f, std::size_t m) {
  const std::size_t n = x.size();
  std::vector<double> score(n);
  for (std::size_t i = 0; i < n; ++i) {
    std::vector<double> d;
    for (std::size_t j = 0; j < n; ++j) {
      if (j == i) continue;
      double s = 0;
      for (std::size_t e = 0; e < x[i].size(); ++e) {
        const double diff = double(x[i].span()[e]) - double(x[j].span()[e]);
        s += diff * diff;
      }
      d.push_back(s);
    }
    std::sort(d.begin(), d.end());
    score[i] = std::accumulate(d.begin(), d.begin() + static_cast<std::ptrdiff_t>(n - f - 2), 0.0);
  }
  std::vector<std::size_t> order(n);
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](auto a, auto b) { return score[a] < score[b]; });
  order.resize(m);
  return order;
}

TEST(Krum, MatchesNaiveReference) {
  for (std::size_t k : {3, 5, 8, 13, 33, 64})
    for (std::size_t dim : dims)
      for (std::size_t f : {0, 1, 3})
        for (std::size_t m : {1, 3}) {
          if (k <= 2 * f + 2 || m > k) continue;
          const auto layout = layout_of(dim);
          const auto models = random_models(layout, k, 31 * k + dim + f);
          std::vector<double> weights(k);
          for (std::size_t i = 0; i < k; ++i) weights[i] = 1.0 + static_cast<double>(i % 5);
          fedpp::krum<float> agg(layout, {.byzantine = f, .selected = m});
          feed(agg, models, weights);
          EXPECT_EQ(agg.rule().select(agg.updates()), naive_krum(models, f, m)) << "K=" << k << " D=" << dim;
          const auto chosen = naive_krum(models, f, m);
          const auto out = std::move(agg).report();
          for (std::size_t d = 0; d < dim; ++d) {
            double s = 0, w = 0;
            for (auto c : chosen) {
              s += weights[c] * models[c].span()[d];
              w += weights[c];
            }
            ASSERT_NEAR(out.span()[d], s / w, 1e-6);
          }
        }
}

TEST(Krum, PicksThePlantedHonestCluster) {
  // 7 honest updates near (1, 1, ..., 1), 2 attackers far away and close to each other.
  const auto layout = layout_of(50);
  fedpp::rng gen(5);
  std::vector<flat_model<float>> models;
  for (std::size_t k = 0; k < 9; ++k) {
    auto& m = models.emplace_back(layout);
    for (auto& v : m.span())
      v = k < 7 ? 1.0F + 0.1F * static_cast<float>(gen.uniform() - 0.5)
                : -20.0F + 0.001F * static_cast<float>(k);
  }
  fedpp::krum<float> agg(layout, {.byzantine = 2, .selected = 1});
  feed(agg, models);
  const auto chosen = agg.rule().select(agg.updates());
  EXPECT_LT(chosen.front(), 7U);
  fedpp::krum<float> multi(layout, {.byzantine = 2, .selected = 5});
  feed(multi, models);
  for (auto c : multi.rule().select(multi.updates())) EXPECT_LT(c, 7U);
}

TEST(Krum, CloseUpdatesWithLargeNormsKeepAccurateDistances) {
  // A large common component makes the Gram form cancel; the refinement must recover it.
  const auto layout = layout_of(4099);
  fedpp::rng gen(9);
  std::vector<flat_model<float>> models;
  for (std::size_t k = 0; k < 6; ++k) {
    auto& m = models.emplace_back(layout);
    for (auto& v : m.span())
      v = 1000.0F + 0.001F * static_cast<float>(gen.uniform() + static_cast<double>(k));
  }
  const auto x = matrix_of(models, layout.total_size());
  const auto dist = fedpp::detail::pairwise_squared_distances(x);
  for (std::size_t i = 0; i < 6; ++i)
    for (std::size_t j = 0; j < 6; ++j) {
      double s = 0;
      for (std::size_t e = 0; e < layout.total_size(); ++e) {
        const double diff = double(models[i].span()[e]) - double(models[j].span()[e]);
        s += diff * diff;
      }
      ASSERT_NEAR(dist[i * 6 + j], s, 1e-6 * s + 1e-300);
    }
}

TEST(Krum, PairwiseDistancesMatchDoubleReference) {
  // Every vector path (16, 8 or 4 lanes, chosen at run time) with row counts that are not a
  // multiple of the register tile and lengths with vector tails and partial Gram blocks.
  for (std::size_t k : {1, 2, 3, 5, 8, 13, 64, 70})
    for (std::size_t dim : {1, 15, 16, 17, 1027, 2050}) {
      const auto layout = layout_of(dim);
      const auto models = random_models(layout, k, 11 * k + dim);
      const auto x = matrix_of(models, dim);
      const auto dist = fedpp::detail::pairwise_squared_distances(x);
      ASSERT_EQ(dist.size(), k * k);
      for (std::size_t i = 0; i < k; ++i)
        for (std::size_t j = 0; j < k; ++j) {
          double s = 0;
          for (std::size_t e = 0; e < dim; ++e) {
            const double diff = double(models[i].span()[e]) - double(models[j].span()[e]);
            s += diff * diff;
          }
          ASSERT_NEAR(dist[i * k + j], s, 1e-4 * s) << "K=" << k << " D=" << dim << " i=" << i << " j=" << j;
        }
    }
}

// Rows of an update_matrix must not pile onto the same cache sets: the Gram blocks read 16 lines
// of every row together. With 2048-set caches of 64-byte lines (L2 of the x86-64 cores this was
// tuned on), at most 3 of those lines may share a set (16-way L2); the old odd-line-count rule put the
// 1024 lines of K = 64 rows at D = 2^20 into 79 sets (up to 16 per set).
TEST(UpdateMatrix, LongRowsSpreadTheirBlocksOverCacheSets) {
  constexpr std::size_t sets = 2048, block_lines = fedpp::detail::gram_block * sizeof(float) / 64;
  for (std::size_t dim : {std::size_t{1} << 16, std::size_t{1} << 19, std::size_t{1} << 20, std::size_t{3} << 18,
                          (std::size_t{1} << 20) + 16 * 1000, std::size_t{159010}, std::size_t{2000003}}) {
    const fedpp::update_matrix<float> m(dim);
    ASSERT_EQ(m.stride() % 16, 0U) << "whole lines, D=" << dim;
    ASSERT_GE(m.stride(), dim);
    const std::size_t stride_lines = m.stride() / 16;
    EXPECT_LE(stride_lines - (dim + 15) / 16, 63U) << "padding, D=" << dim;
    for (std::size_t k : {32, 64}) {
      std::vector<int> per_set(sets, 0);
      for (std::size_t r = 0; r < k; ++r)
        for (std::size_t l = 0; l < block_lines; ++l) ++per_set[(r * stride_lines + l) % sets];
      EXPECT_LE(*std::max_element(per_set.begin(), per_set.end()), 3) << "D=" << dim << " K=" << k;
    }
  }
  EXPECT_EQ(fedpp::update_matrix<float>(100).stride(), 112U) << "short rows: an odd line count";
  EXPECT_EQ(fedpp::update_matrix<float>(0).stride(), 0U);
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
TEST(Krum, GramKernelsOfEveryPathMatchThePlainOne) {
  // pairwise_squared_distances runs only the widest path this CPU has; the others are called
  // directly here (rows not a multiple of the tiles, two blocks, products summed from zero).
  const bool avx2 = __builtin_cpu_supports("avx") && __builtin_cpu_supports("fma");
  const bool avx512 = __builtin_cpu_supports("avx512f");
  if (!avx2) GTEST_SKIP() << "no AVX2+FMA on this CPU";
  for (std::size_t k : {1, 2, 3, 5, 7, 9, 13}) {
    const std::size_t dim = 2 * fedpp::detail::gram_block;
    const auto layout = layout_of(dim);
    const auto models = random_models(layout, k, 5 * k);
    const auto x = matrix_of(models, dim);
    std::vector<double> plain(k * k, 0.0), fma(k * k, 0.0), wide(k * k, 0.0);
    fedpp::detail::gram_block_plain(x.data(), x.stride(), k, 0, dim, plain.data());
    for (std::size_t b = 0; b < dim; b += fedpp::detail::gram_block)
      fedpp::detail::gram_block_fma(x.data(), x.stride(), k, b, b + fedpp::detail::gram_block, fma.data());
    if (avx512) {
      fedpp::detail::aligned_buffer<double> tile_sums(fedpp::detail::gram_tile_count(k) * 16);
      for (std::size_t b = 0; b < dim; b += fedpp::detail::gram_block)
        fedpp::detail::gram_block_avx512(x.data(), x.stride(), k, b, b + fedpp::detail::gram_block,
                                         tile_sums.data(), b + fedpp::detail::gram_block,
                                         std::min(b + 2 * fedpp::detail::gram_block, dim));
      fedpp::detail::add_tile_sums(tile_sums.data(), k, wide.data());
    }
    for (std::size_t i = 0; i < k; ++i)
      for (std::size_t j = i; j < k; ++j) {
        const double ref = plain[i * k + j], tol = 1e-5 * (std::fabs(ref) + 1);
        EXPECT_NEAR(fma[i * k + j], ref, tol) << "avx2 K=" << k << " " << i << "," << j;
        if (avx512) {
          EXPECT_NEAR(wide[i * k + j], ref, tol) << "avx512 K=" << k << " " << i << "," << j;
        }
      }
  }
}
#endif

TEST(Krum, PairwiseDistancesOnAPoolMatchSerial) {
  // The Gram phase split over 2 and 3 threads (whole blocks per thread, the last with the tail)
  // equals the serial result up to double rounding, and Krum/Bulyan with a pool pick the same.
  fedpp::parallel::thread_pool two(2), three(3);
  for (std::size_t k : {3, 17, 64})
    for (std::size_t dim : {15, 513, 5000}) {
      const auto layout = layout_of(dim);
      const auto models = random_models(layout, k, 7 * k + dim);
      const auto x = matrix_of(models, dim);
      const auto serial = fedpp::detail::pairwise_squared_distances(x);
      for (auto* pool : {&two, &three}) {
        const auto pooled = fedpp::detail::pairwise_squared_distances(x, pool);
        ASSERT_EQ(pooled.size(), serial.size());
        for (std::size_t i = 0; i < serial.size(); ++i)
          ASSERT_NEAR(pooled[i], serial[i], 1e-12 * serial[i]) << "K=" << k << " D=" << dim << " at " << i;
      }
    }
  const auto layout = layout_of(3000);
  const auto models = random_models(layout, 11, 99);
  fedpp::krum<float> serial(layout, {.byzantine = 2, .selected = 3});
  fedpp::krum<float> pooled(layout, fedpp::krum_rule({.byzantine = 2, .selected = 3}).with_pool(two));
  fedpp::bulyan<float> bulyan_serial(layout, {.byzantine = 2});
  fedpp::bulyan<float> bulyan_pooled(layout, fedpp::bulyan_rule({.byzantine = 2}).with_pool(three));
  feed(serial, models);
  feed(pooled, models);
  feed(bulyan_serial, models);
  feed(bulyan_pooled, models);
  const auto a = std::move(serial).report(), b = std::move(pooled).report();
  const auto c = std::move(bulyan_serial).report(), d = std::move(bulyan_pooled).report();
  for (std::size_t i = 0; i < a.size(); ++i) {
    ASSERT_EQ(a.span()[i], b.span()[i]) << i;
    ASSERT_EQ(c.span()[i], d.span()[i]) << i;
  }
}

TEST(Krum, InvalidParameters) {
  EXPECT_THROW(fedpp::krum_rule({.byzantine = 1, .selected = 0}), fedpp::invalid_config);
  const auto layout = layout_of(5);
  fedpp::krum<float> agg(layout, {.byzantine = 2, .selected = 1});
  feed(agg, random_models(layout, 6, 1)); // needs n > 6
  // A count the rule cannot use: can_report() is false with the reason; report() is not called
  // by a server then, and refuses (precondition) when called anyway.
  EXPECT_FALSE(agg.can_report());
  ASSERT_TRUE(agg.report_blocker());
  const std::string why = *agg.report_blocker();
  EXPECT_NE(why.find("n = 6"), std::string::npos) << why;
  EXPECT_NE(why.find("f = 2"), std::string::npos) << why;
  EXPECT_THROW((void)std::move(agg).report(), fedpp::invalid_config);
  fedpp::krum<float> multi(layout, {.byzantine = 0, .selected = 4});
  feed(multi, random_models(layout, 3, 1));
  EXPECT_FALSE(multi.can_report());
  EXPECT_NE(multi.report_blocker()->find("m = 4 of n = 3"), std::string::npos) << *multi.report_blocker();
  feed(multi, random_models(layout, 1, 2));
  EXPECT_TRUE(multi.can_report());
}

// Naive Bulyan, written from the paper's description with Flower's counts.
std::vector<double> naive_bulyan(const std::vector<flat_model<float>>& x, std::size_t f) {
  std::vector<std::size_t> remaining(x.size());
  std::iota(remaining.begin(), remaining.end(), std::size_t{0});
  std::vector<std::size_t> selected;
  const std::size_t theta = x.size() - 2 * f, beta = theta - 2 * f;
  while (selected.size() < theta) {
    std::vector<flat_model<float>> rest;
    for (auto r : remaining) rest.push_back(x[r]);
    const std::size_t n = rest.size();
    const std::size_t nb = n > f + 2 ? n - f - 2 : 1;
    // Krum over `rest` with nb neighbours.
    std::vector<double> score(n);
    for (std::size_t i = 0; i < n; ++i) {
      std::vector<double> d;
      for (std::size_t j = 0; j < n; ++j) {
        if (j == i) continue;
        double s = 0;
        for (std::size_t e = 0; e < rest[i].size(); ++e) {
          const double diff = double(rest[i].span()[e]) - double(rest[j].span()[e]);
          s += diff * diff;
        }
        d.push_back(s);
      }
      std::sort(d.begin(), d.end());
      score[i] =
          std::accumulate(d.begin(), d.begin() + static_cast<std::ptrdiff_t>(std::min(nb, d.size())), 0.0);
    }
    const auto best = static_cast<std::size_t>(std::min_element(score.begin(), score.end()) - score.begin());
    selected.push_back(remaining[best]);
    remaining.erase(remaining.begin() + static_cast<std::ptrdiff_t>(best));
  }
  std::vector<double> out(x.front().size());
  for (std::size_t d = 0; d < out.size(); ++d) {
    std::vector<double> c;
    for (auto s : selected) c.push_back(x[s].span()[d]);
    std::sort(c.begin(), c.end());
    const double med = theta % 2 ? c[theta / 2] : 0.5 * (c[theta / 2 - 1] + c[theta / 2]);
    std::vector<double> by_distance = c;
    std::stable_sort(by_distance.begin(), by_distance.end(),
                     [&](double a, double b) { return std::abs(a - med) < std::abs(b - med); });
    out[d] =
        std::accumulate(by_distance.begin(), by_distance.begin() + static_cast<std::ptrdiff_t>(beta), 0.0) /
        static_cast<double>(beta);
  }
  return out;
}

TEST(Bulyan, MatchesNaiveReference) {
  for (std::size_t k : {3, 7, 8, 12, 20})
    for (std::size_t dim : dims)
      for (std::size_t f : {0, 1, 2, 4}) {
        if (k < 4 * f + 3) continue;
        const auto layout = layout_of(dim);
        const auto models = random_models(layout, k, 3 * k + dim + f);
        fedpp::bulyan<float> agg(layout, {.byzantine = f});
        feed(agg, models);
        const auto out = std::move(agg).report();
        const auto ref = naive_bulyan(models, f);
        for (std::size_t d = 0; d < dim; ++d)
          ASSERT_NEAR(out.span()[d], ref[d], 1e-6) << "K=" << k << " D=" << dim << " f=" << f << " d=" << d;
      }
}

TEST(Bulyan, InvalidParameters) {
  const auto layout = layout_of(5);
  fedpp::bulyan<float> agg(layout, {.byzantine = 2});
  EXPECT_THROW(agg.check(10), fedpp::invalid_config); // what a server can ask when the round starts
  EXPECT_NO_THROW(agg.check(11));
  feed(agg, random_models(layout, 10, 1)); // needs 11
  EXPECT_FALSE(agg.can_report());
  const std::string what = agg.report_blocker().value_or("");
  EXPECT_NE(what.find("n = 10"), std::string::npos) << what;
  EXPECT_NE(what.find("4f + 3 = 11"), std::string::npos) << what;
  try {
    (void)std::move(agg).report();
    FAIL() << "expected invalid_config";
  } catch (const fedpp::invalid_config& e) {
    EXPECT_EQ(std::string(e.what()), what);
  }
}

TEST(GeometricMedian, MatchesWeiszfeldReferenceAndMinimisesTheObjective) {
  for (std::size_t k : {1, 2, 5, 17})
    for (std::size_t dim : {1, 13, 200}) {
      const auto layout = layout_of(dim);
      const auto models = random_models(layout, k, 11 * k + dim);
      std::vector<double> weights(k);
      for (std::size_t i = 0; i < k; ++i) weights[i] = 1.0 + static_cast<double>(i % 3);
      const fedpp::geometric_median_rule rule(
          {.smoothing = 1e-8, .max_iterations = 1000, .tolerance = 1e-12});
      fedpp::geometric_median<float> agg(layout, rule);
      feed(agg, models, weights);
      const auto out = std::move(agg).report();
      auto objective = [&](const std::vector<double>& v) {
        double g = 0;
        for (std::size_t i = 0; i < k; ++i) {
          double s = 0;
          for (std::size_t d = 0; d < dim; ++d)
            s += (v[d] - models[i].span()[d]) * (v[d] - models[i].span()[d]);
          g += weights[i] * std::sqrt(s);
        }
        return g;
      };
      std::vector<double> v(out.span().begin(), out.span().end());
      const double g = objective(v);
      // No small step along any coordinate improves the objective noticeably.
      for (std::size_t d = 0; d < std::min<std::size_t>(dim, 5); ++d)
        for (double step : {1e-3, -1e-3}) {
          auto w = v;
          w[d] += step;
          EXPECT_GE(objective(w), g - 1e-5 * g) << "K=" << k << " D=" << dim;
        }
    }
}

TEST(GeometricMedian, ResistsAFarOutlierUnlikeTheMean) {
  const auto layout = layout_of(2);
  std::vector<flat_model<float>> models;
  for (float v : {1.0F, 1.1F, 0.9F, 1.05F, 1000.0F}) {
    auto& m = models.emplace_back(layout);
    m.span()[0] = v;
    m.span()[1] = 0;
  }
  fedpp::geometric_median<float> agg(layout);
  feed(agg, models);
  EXPECT_NEAR(std::move(agg).report().span()[0], 1.05, 0.06);
  EXPECT_THROW(fedpp::geometric_median_rule({.smoothing = 0.0}), fedpp::invalid_config);
  EXPECT_THROW(fedpp::geometric_median_rule({.max_iterations = 0}), fedpp::invalid_config);
  EXPECT_THROW(fedpp::geometric_median_rule({.tolerance = -1}), fedpp::invalid_config);
}

TEST(NormBounding, ClipsEachUpdateThenAverages) {
  for (std::size_t k : {1, 4, 33})
    for (std::size_t dim : dims) {
      const auto layout = layout_of(dim);
      const auto models = random_models(layout, k, 13 * k + dim);
      const double bound = 0.3 * std::sqrt(static_cast<double>(dim));
      std::vector<double> weights(k);
      for (std::size_t i = 0; i < k; ++i) weights[i] = 2.0 + static_cast<double>(i);
      fedpp::norm_bounding<float> agg(layout, bound);
      feed(agg, models, weights);
      std::vector<double> ref(dim, 0.0);
      double total = 0;
      std::size_t clipped = 0;
      for (std::size_t i = 0; i < k; ++i) {
        double sq = 0;
        for (float v : models[i].span()) sq += double(v) * v;
        const double factor = std::min(1.0, bound / std::sqrt(sq));
        clipped += factor < 1;
        for (std::size_t d = 0; d < dim; ++d) ref[d] += weights[i] * factor * models[i].span()[d];
        total += weights[i];
      }
      EXPECT_EQ(agg.num_clipped(), clipped);
      const auto out = std::move(agg).report();
      for (std::size_t d = 0; d < dim; ++d) ASSERT_NEAR(out.span()[d], ref[d] / total, 1e-6);
    }
  EXPECT_THROW(fedpp::norm_bounding<float>(layout_of(3), 0.0), fedpp::invalid_config);
}

TEST(RobustAggregator, MergeConcatenatesAndEqualsTheFlatResult) {
  const auto layout = layout_of(101);
  const auto models = random_models(layout, 11, 77);
  fedpp::coordinate_median<float> flat(layout), a(layout), b(layout);
  feed(flat, models);
  for (std::size_t k = 0; k < models.size(); ++k)
    (k % 2 ? a : b).accumulate(client_update<float>::from_flat(k, layout, models[k].span(), 1.0));
  a.merge(std::move(b));
  EXPECT_EQ(a.num_inputs(), 11U);
  EXPECT_EQ(b.num_inputs(), 0U);
  const auto x = std::move(flat).report(), y = std::move(a).report();
  for (std::size_t d = 0; d < x.size(); ++d) EXPECT_EQ(x.span()[d], y.span()[d]);
  fedpp::coordinate_median<float> other(layout_of(100));
  fedpp::coordinate_median<float> c(layout);
  EXPECT_THROW(c.merge(std::move(other)), fedpp::invalid_config);
}

TEST(RobustAggregator, MemoryBudgetErrorNamesTheNumbersAndKeepsState) {
  const auto layout = layout_of(100); // rows padded to 112 floats = 448 bytes
  const auto models = random_models(layout, 4, 1);
  fedpp::krum<float> agg(layout, fedpp::krum_options{.byzantine = 0}, 3 * 448);
  feed(agg, std::vector<flat_model<float>>(models.begin(), models.begin() + 3));
  try {
    agg.accumulate(client_update<float>::from_flat(9, layout, models[3].span(), 1.0));
    FAIL() << "expected invalid_config";
  } catch (const fedpp::invalid_config& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("memory budget of 1344 bytes"), std::string::npos) << what;
    EXPECT_NE(what.find("1792 bytes needed"), std::string::npos) << what;
    EXPECT_NE(what.find("K = 4"), std::string::npos) << what;
    EXPECT_NE(what.find("D = 100"), std::string::npos) << what;
  }
  EXPECT_EQ(agg.num_inputs(), 3U);
  // Merging past the budget is refused too, both sides unchanged.
  fedpp::krum<float> more(layout, fedpp::krum_options{.byzantine = 0}, 1 << 20);
  feed(more, std::vector<flat_model<float>>(models.begin(), models.begin() + 1));
  EXPECT_THROW(agg.merge(std::move(more)), fedpp::invalid_config);
  EXPECT_EQ(agg.num_inputs(), 3U);
  EXPECT_EQ(more.num_inputs(), 1U);
}

TEST(RobustAggregator, BadInputIsRejectedWithStateUnchanged) {
  const auto layout = layout_of(10);
  auto models = random_models(layout, 3, 2);
  fedpp::trimmed_mean<float> agg(layout);
  feed(agg, std::vector<flat_model<float>>(models.begin(), models.begin() + 2));
  models[2].span()[4] = std::numeric_limits<float>::quiet_NaN();
  EXPECT_THROW(agg.accumulate(client_update<float>::from_flat(2, layout, models[2].span(), 1.0)),
               fedpp::rejected_update);
  models[2].span()[4] = 0;
  EXPECT_THROW(agg.accumulate(client_update<float>::from_flat(2, layout, models[2].span(), 0.0)),
               fedpp::rejected_update);
  const auto other = layout_of(11);
  flat_model<float> wrong(other);
  EXPECT_THROW(agg.accumulate(client_update<float>::from_flat(2, other, wrong.span(), 1.0)),
               fedpp::rejected_update);
  EXPECT_EQ(agg.num_inputs(), 2U);
  fedpp::trimmed_mean<float> empty(layout);
  EXPECT_FALSE(empty.can_report());
  EXPECT_NE(empty.report_blocker()->find("nothing to report"), std::string::npos);
  EXPECT_THROW((void)std::move(empty).report(), fedpp::invalid_config);
}

} // namespace
