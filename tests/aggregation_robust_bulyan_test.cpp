// Bulyan's coordinate-wise step (mean_around_median) against a naive double-precision reference:
// row counts below, at and above every network size (odd ones included), coordinates with vector
// tails, unaligned rows, ties, every vector path against the scalar one bit for bit, pools; then
// Bulyan end to end with odd K and tied updates, and Flower's Bulyan test case.
#include "fedpp/aggregation/robust/bulyan.hpp"
#include "fedpp/aggregation/robust/mean_around_median.hpp"
#include "fedpp/parallel/thread_pool.hpp"
#include "fedpp/random/rng.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <string>
#include <vector>

namespace {

using fedpp::client_update;
using fedpp::flat_model;
using fedpp::model_layout;

// K rows of D values; `levels` > 0 draws integers in [0, levels) (many ties), else uniform(-1, 1).
std::vector<std::vector<float>> random_rows(std::size_t k, std::size_t dim, std::uint64_t seed,
                                            unsigned levels = 0) {
  fedpp::rng gen(seed);
  std::vector<std::vector<float>> rows(k, std::vector<float>(dim));
  for (auto& row : rows)
    for (auto& v : row)
      v = levels > 0 ? static_cast<float>(std::floor(gen.uniform() * levels))
                     : static_cast<float>(gen.uniform() * 2.0 - 1.0);
  return rows;
}

fedpp::update_matrix<float> matrix_of(const std::vector<std::vector<float>>& rows, std::size_t dim) {
  fedpp::update_matrix<float> x(dim);
  x.reserve_more(rows.size(), "test");
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const std::span<const float> piece[1] = {rows[i]};
    x.append(i, 1.0, piece);
  }
  return x;
}

// Naive reference, from the definition: sort the column, take the β values nearest the median
// (ties: the lower value first), average them in double (summed in increasing order).
float naive_mean_around_median(std::vector<double> column, std::size_t beta) {
  std::sort(column.begin(), column.end());
  const std::size_t n = column.size();
  const double median = n % 2 == 1 ? column[n / 2] : 0.5 * (column[n / 2 - 1] + column[n / 2]);
  std::stable_sort(column.begin(), column.end(),
                   [&](double a, double b) { return std::abs(a - median) < std::abs(b - median); });
  column.resize(beta);
  std::sort(column.begin(), column.end()); // sum the chosen values in one canonical order
  const double sum = std::accumulate(column.begin(), column.end(), 0.0);
  return static_cast<float>(sum / static_cast<double>(beta));
}

std::vector<float> naive_all(const std::vector<const float*>& rows, std::size_t dim, std::size_t beta) {
  std::vector<float> out(dim);
  std::vector<double> column(rows.size());
  for (std::size_t d = 0; d < dim; ++d) {
    for (std::size_t k = 0; k < rows.size(); ++k) column[k] = rows[k][d];
    out[d] = naive_mean_around_median(column, beta);
  }
  return out;
}

std::vector<std::size_t> betas_for(std::size_t k) {
  std::vector<std::size_t> betas{1, k, (k + 1) / 2};
  if (k > 4) betas.push_back(k - 4);
  if (k > 2) betas.push_back(2);
  std::sort(betas.begin(), betas.end());
  betas.erase(std::unique(betas.begin(), betas.end()), betas.end());
  return betas;
}

const std::vector<std::size_t> row_counts{1, 2, 3, 4, 7, 15, 16, 17, 31, 33, 34, 47, 48, 49, 63, 64, 65, 70};
const std::vector<std::size_t> lengths{0, 1, 3, 4, 15, 16, 17, 31, 33, 100};

TEST(MeanAroundMedian, MatchesTheNaiveReference) {
  for (std::size_t k : row_counts)
    for (std::size_t dim : lengths) {
      const auto rows = random_rows(k, dim, 1000 * k + dim);
      const auto x = matrix_of(rows, dim);
      std::vector<const float*> pointers;
      for (const auto& r : rows) pointers.push_back(r.data());
      for (std::size_t beta : betas_for(k)) {
        std::vector<float> out(dim, -7.0F);
        fedpp::mean_around_median(x, beta, std::span<float>(out));
        const auto ref = naive_all(pointers, dim, beta);
        for (std::size_t d = 0; d < dim; ++d)
          ASSERT_EQ(out[d], ref[d]) << "K=" << k << " D=" << dim << " beta=" << beta << " d=" << d;
      }
    }
}

TEST(MeanAroundMedian, TiesTakeTheLowerValues) {
  // Integer values in [0, 4): nearly every column has values equally far from its median.
  for (std::size_t k : {3, 4, 6, 9, 16, 21, 34, 64})
    for (std::size_t dim : {17, 48}) {
      const auto rows = random_rows(k, dim, 7 * k + dim, 4);
      const auto x = matrix_of(rows, dim);
      std::vector<const float*> pointers;
      for (const auto& r : rows) pointers.push_back(r.data());
      for (std::size_t beta : betas_for(k)) {
        std::vector<float> out(dim);
        fedpp::mean_around_median(x, beta, std::span<float>(out));
        const auto ref = naive_all(pointers, dim, beta);
        for (std::size_t d = 0; d < dim; ++d)
          ASSERT_EQ(out[d], ref[d]) << "K=" << k << " D=" << dim << " beta=" << beta << " d=" << d;
      }
    }
  // Hand-checked: column 0 1 2 3, median 1.5, β = 1: 1 and 2 are as close, 1 is taken; β = 3:
  // {1, 2} then 0 and 3 tie, 0 is taken.
  const std::vector<std::vector<float>> rows{{3}, {0}, {2}, {1}};
  const auto x = matrix_of(rows, 1);
  float out = 0;
  fedpp::mean_around_median(x, 1, std::span<float>(&out, 1));
  EXPECT_EQ(out, 1.0F);
  fedpp::mean_around_median(x, 3, std::span<float>(&out, 1));
  EXPECT_EQ(out, 1.0F);
}

TEST(MeanAroundMedian, UnalignedRowsAndSelectedSubsets) {
  // Rows at every float offset within a cache line: the kernel loads without alignment.
  for (std::size_t k : {5, 17, 34})
    for (std::size_t dim : {1, 19, 131}) {
      const auto rows = random_rows(k, dim, 3 * k + dim);
      std::vector<float> storage(k * (dim + 16) + 16);
      std::vector<const float*> pointers;
      for (std::size_t i = 0; i < k; ++i) {
        float* at = storage.data() + i * (dim + 16) + 1 + i % 15;
        std::memcpy(at, rows[i].data(), dim * sizeof(float));
        pointers.push_back(at);
      }
      const std::size_t beta = std::max<std::size_t>(1, k / 3);
      std::vector<float> out(dim);
      fedpp::mean_around_median(std::span<const float* const>(pointers), beta, std::span<float>(out));
      const auto ref = naive_all(pointers, dim, beta);
      for (std::size_t d = 0; d < dim; ++d) ASSERT_EQ(out[d], ref[d]) << "K=" << k << " D=" << dim;
      // A subset of the rows of an update_matrix, listed out of order.
      const auto x = matrix_of(rows, dim);
      std::vector<std::size_t> chosen;
      for (std::size_t i = k; i-- > 0;)
        if (i % 3 != 1) chosen.push_back(i);
      std::vector<const float*> chosen_rows;
      for (std::size_t i : chosen) chosen_rows.push_back(rows[i].data());
      const std::size_t b = std::max<std::size_t>(1, chosen.size() / 2);
      fedpp::mean_around_median(x, std::span<const std::size_t>(chosen), b, std::span<float>(out));
      const auto sub = naive_all(chosen_rows, dim, b);
      for (std::size_t d = 0; d < dim; ++d) ASSERT_EQ(out[d], sub[d]) << "subset K=" << k << " D=" << dim;
    }
}

#if FEDPP_ROBUST_X86
TEST(MeanAroundMedian, EveryVectorPathEqualsTheScalarPathBitForBit) {
  // closest_to_median runs only the widest path of this CPU; the others are called directly.
  const bool avx = __builtin_cpu_supports("avx");
  const bool avx512 = __builtin_cpu_supports("avx512f");
  namespace x86 = fedpp::detail::closest_x86;
  for (std::size_t k : {1, 2, 5, 16, 17, 32, 33, 48, 49, 64})
    for (unsigned levels : {0U, 3U}) {
      const std::size_t dim = 67; // 4 groups of 16 lanes and a tail of 3
      const auto rows = random_rows(k, dim, 17 * k + levels, levels);
      std::vector<const float*> p;
      for (const auto& r : rows) p.push_back(r.data());
      for (std::size_t beta : betas_for(k)) {
        std::vector<float> scalar(dim), wide(dim);
        fedpp::detail::closest_to_median_scalar(p.data(), k, beta, 0, dim, scalar.data());
        const auto check = [&](const char* path, std::size_t done) {
          fedpp::detail::closest_to_median_scalar(p.data(), k, beta, done, dim, wide.data());
          for (std::size_t d = 0; d < dim; ++d)
            ASSERT_EQ(std::memcmp(&wide[d], &scalar[d], sizeof(float)), 0)
                << path << " K=" << k << " beta=" << beta << " d=" << d << ": " << wide[d] << " vs "
                << scalar[d];
        };
        const std::size_t n = (k + 15) / 16 * 16;
        const auto run = [&](auto sse2, auto avx_fn, auto avx512_fn) {
          check("sse2", sse2(p.data(), k, beta, 0, dim, wide.data()));
          if (avx) check("avx", avx_fn(p.data(), k, beta, 0, dim, wide.data()));
          if (avx512) check("avx512", avx512_fn(p.data(), k, beta, 0, dim, wide.data()));
        };
        if (n == 16) run(x86::sse2<16>, x86::avx<16>, x86::avx512<16>);
        if (n == 32) run(x86::sse2<32>, x86::avx<32>, x86::avx512<32>);
        if (n == 48) run(x86::sse2<48>, x86::avx<48>, x86::avx512<48>);
        if (n == 64) run(x86::sse2<64>, x86::avx<64>, x86::avx512<64>);
      }
    }
}
#endif

TEST(MeanAroundMedian, PoolsGiveTheSerialResult) {
  fedpp::parallel::thread_pool two(2), three(3);
  for (std::size_t dim : {255, 256, 257, 1000, 5003}) {
    const auto rows = random_rows(34, dim, dim);
    const auto x = matrix_of(rows, dim);
    std::vector<float> serial(dim), pooled(dim);
    fedpp::mean_around_median(x, 4, std::span<float>(serial));
    for (auto* pool : {&two, &three}) {
      std::fill(pooled.begin(), pooled.end(), -1.0F);
      fedpp::mean_around_median(x, 4, std::span<float>(pooled), pool);
      ASSERT_EQ(pooled, serial) << "D=" << dim << " threads=" << pool->size();
    }
  }
}

TEST(MeanAroundMedian, RefusesBadArguments) {
  const auto x = matrix_of(random_rows(5, 8, 1), 8);
  std::vector<float> out(8), short_out(7);
  EXPECT_THROW(fedpp::mean_around_median(x, 0, std::span<float>(out)), fedpp::invalid_config);
  EXPECT_THROW(fedpp::mean_around_median(x, 6, std::span<float>(out)), fedpp::invalid_config);
  EXPECT_THROW(fedpp::mean_around_median(x, 2, std::span<float>(short_out)), fedpp::invalid_config);
  const std::vector<std::size_t> bad{0, 5};
  EXPECT_THROW(fedpp::mean_around_median(x, std::span<const std::size_t>(bad), 1, std::span<float>(out)),
               fedpp::invalid_config);
  const fedpp::update_matrix<float> empty(8);
  EXPECT_THROW(fedpp::mean_around_median(empty, 1, std::span<float>(out)), fedpp::invalid_config);
}

// --- Bulyan end to end -----------------------------------------------------------------------

model_layout layout_of(std::size_t dim) {
  model_layout layout;
  layout.add("w", {dim});
  return layout;
}

template <class Agg>
void feed(Agg& agg, const std::vector<std::vector<float>>& rows, double weight = 1.0) {
  const auto layout = layout_of(rows.front().size());
  for (std::size_t k = 0; k < rows.size(); ++k)
    agg.accumulate(client_update<float>::from_flat(k, layout, rows[k], weight));
}

// Naive Bulyan from the paper with Flower's counts: Krum passes on direct double distances
// (max(1, r − f − 2) neighbours, lowest score, ties by index), then the naive step above.
std::vector<float> naive_bulyan(const std::vector<std::vector<float>>& x, std::size_t f) {
  const std::size_t n = x.size(), dim = x.front().size();
  std::vector<std::size_t> remaining(n);
  std::iota(remaining.begin(), remaining.end(), std::size_t{0});
  std::vector<const float*> selected;
  while (selected.size() < n - 2 * f) {
    const std::size_t r = remaining.size();
    const std::size_t nb = r > f + 2 ? r - f - 2 : 1;
    std::vector<double> score(r);
    for (std::size_t i = 0; i < r; ++i) {
      std::vector<double> d;
      for (std::size_t j = 0; j < r; ++j) {
        if (j == i) continue;
        double s = 0;
        for (std::size_t e = 0; e < dim; ++e) {
          const double diff = double(x[remaining[i]][e]) - double(x[remaining[j]][e]);
          s += diff * diff;
        }
        d.push_back(s);
      }
      std::sort(d.begin(), d.end());
      score[i] =
          std::accumulate(d.begin(), d.begin() + static_cast<std::ptrdiff_t>(std::min(nb, d.size())), 0.0);
    }
    const auto best = static_cast<std::size_t>(std::min_element(score.begin(), score.end()) - score.begin());
    selected.push_back(x[remaining[best]].data());
    remaining.erase(remaining.begin() + static_cast<std::ptrdiff_t>(best));
  }
  return naive_all(selected, dim, n - 4 * f);
}

TEST(Bulyan, OddCountsTiesAndTailsMatchTheNaiveReference) {
  fedpp::parallel::thread_pool pool(2);
  for (std::size_t k : {3, 7, 11, 15, 23, 35})
    for (std::size_t dim : {1, 17, 259})
      for (unsigned levels : {0U, 3U})
        for (std::size_t f : {0, 1, 2, 5, 8}) {
          if (k < 4 * f + 3) continue;
          // Tied updates: integer values, and two clients sending the very same update.
          auto rows = random_rows(k, dim, 5 * k + dim + f + levels, levels);
          if (levels > 0 && k > 4) rows[3] = rows[1];
          const auto ref = naive_bulyan(rows, f);
          for (bool pooled : {false, true}) {
            fedpp::bulyan_rule rule({.byzantine = f});
            if (pooled) rule = rule.with_pool(pool);
            fedpp::bulyan<float> agg(layout_of(dim), rule);
            feed(agg, rows);
            ASSERT_TRUE(agg.can_report());
            const auto out = std::move(agg).report();
            for (std::size_t d = 0; d < dim; ++d)
              ASSERT_EQ(out.span()[d], ref[d]) << "K=" << k << " D=" << dim << " f=" << f
                                               << " levels=" << levels << " pooled=" << pooled << " d=" << d;
          }
        }
}

TEST(Bulyan, FlowersTestCase) {
  // flwr's bulyan_test.py: f = 0 and 6 clients, so θ = β = 6 and every coordinate is the mean.
  const std::vector<float> values{0.2F, 0.5F, 0.7F, 12.0F, 0.1F, 0.1F};
  std::vector<std::vector<float>> rows;
  for (float v : values) rows.push_back(std::vector<float>(4, v));
  fedpp::bulyan<float> agg(layout_of(4), {.byzantine = 0});
  feed(agg, rows, 5.0);
  const auto out = std::move(agg).report();
  const float expected = static_cast<float>((0.2 + 0.5 + 0.7 + 12.0 + 0.1 + 0.1) / 6);
  for (float v : out.span()) EXPECT_EQ(v, expected);
}

TEST(Bulyan, SelectionCountsAndReasons) {
  const fedpp::bulyan_rule rule({.byzantine = 3});
  EXPECT_EQ(rule.theta(15), 9U);
  EXPECT_EQ(rule.beta(15), 3U);
  EXPECT_FALSE(rule.problem(15));
  ASSERT_TRUE(rule.problem(14));
  EXPECT_NE(rule.problem(14)->find("4f + 3 = 15"), std::string::npos) << *rule.problem(14);
  const auto x = matrix_of(random_rows(15, 9, 4), 9);
  const auto selected = rule.select(x);
  EXPECT_EQ(selected.size(), 9U);
  auto unique = selected;
  std::sort(unique.begin(), unique.end());
  EXPECT_EQ(std::unique(unique.begin(), unique.end()), unique.end());
  EXPECT_THROW((void)rule.select(matrix_of(random_rows(14, 9, 4), 9)), fedpp::invalid_config);
}

} // namespace
