// Every kernel against a plain double-precision reference, on every code path this machine runs
// (kernels::available_isas()), for float and double, sizes 0, 1, odd tails and block boundaries,
// unaligned starts. tests/kernels_scalar/ builds this same file again with FEDPP_USE_XSIMD=0.
#include "fedpp/kernels/kernels.hpp"

#include "fedpp/detail/aligned_buffer.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <random>
#include <span>
#include <string>
#include <vector>

namespace {

using namespace fedpp;
using kernels::isa;

// Sizes: empty, single, every small tail, vector/unroll edges, weighted_sum block edges.
const std::vector<std::size_t> sizes = {0,   1,   2,   3,    4,    5,    7,    8,    9,    15,
                                        16,  17,  31,  32,   33,   63,   64,   65,   127,  128,
                                        129, 255, 257, 1000, 2047, 2048, 2049, 3001, 4096, 4103};
const std::vector<std::size_t> offsets = {0, 1, 3};

// An aligned buffer with `n` random elements starting `offset` elements past a 64-byte boundary.
template <class T>
struct test_array {
  test_array(std::size_t n, std::size_t offset, std::mt19937_64& rng, double lo = -2.0, double hi = 2.0)
      : buffer(n + offset + 8), first(offset), size(n) {
    std::uniform_real_distribution<double> dist(lo, hi);
    for (std::size_t i = 0; i < buffer.size(); ++i) buffer[i] = static_cast<T>(dist(rng));
  }
  std::span<T> span() { return {buffer.data() + first, size}; }
  std::span<const T> cspan() const { return {buffer.data() + first, size}; }
  detail::aligned_buffer<T> buffer;
  std::size_t first;
  std::size_t size;
};

template <class T>
double tolerance(double magnitude) {
  return (std::is_same_v<T, float> ? 2e-6 : 1e-14) * (1.0 + magnitude);
}

std::string where(isa path, std::size_t n, std::size_t offset) {
  return std::string("isa=") + kernels::to_string(path) + " n=" + std::to_string(n) +
         " offset=" + std::to_string(offset);
}

template <class Acc, class T>
void check_scaled_accumulate() {
  std::mt19937_64 rng(42);
  for (isa path : kernels::available_isas())
    for (std::size_t n : sizes)
      for (std::size_t off : offsets) {
        test_array<Acc> acc(n, off, rng);
        test_array<T> x(n, (off + 1) % 4, rng);
        const Acc alpha = static_cast<Acc>(0.37);
        std::vector<double> ref(n);
        for (std::size_t i = 0; i < n; ++i)
          ref[i] = static_cast<double>(acc.span()[i]) +
                   static_cast<double>(alpha) * static_cast<double>(x.cspan()[i]);
        const Acc guard_before = acc.buffer[off + n];
        kernels::scaled_accumulate_on<Acc, T>(path, acc.span(), alpha, x.cspan());
        for (std::size_t i = 0; i < n; ++i)
          ASSERT_NEAR(acc.span()[i], ref[i], tolerance<Acc>(std::abs(ref[i]) + 2))
              << where(path, n, off) << " i=" << i;
        ASSERT_EQ(acc.buffer[off + n], guard_before) << "wrote past the end, " << where(path, n, off);
      }
}

TEST(KernelsScaledAccumulate, FloatIntoFloat) { check_scaled_accumulate<float, float>(); }
TEST(KernelsScaledAccumulate, FloatIntoDouble) { check_scaled_accumulate<double, float>(); }
TEST(KernelsScaledAccumulate, DoubleIntoDouble) { check_scaled_accumulate<double, double>(); }

TEST(KernelsScaledAccumulate, DefaultPathMatchesExplicitPath) {
  std::mt19937_64 rng(7);
  test_array<double> a(1001, 1, rng), b(1001, 1, rng);
  test_array<float> x(1001, 2, rng);
  std::copy(a.cspan().begin(), a.cspan().end(), b.span().begin());
  kernels::scaled_accumulate(a.span(), 1.5, x.cspan());
  kernels::scaled_accumulate_on<double, float>(kernels::active_isa(), b.span(), 1.5, x.cspan());
  for (std::size_t i = 0; i < 1001; ++i) ASSERT_EQ(a.span()[i], b.span()[i]);
}

template <class Acc, class T>
void check_weighted_sum() {
  std::mt19937_64 rng(1234);
  const std::vector<std::size_t> input_counts = {0, 1, 2, 3, 4, 5, 7, 8, 9, 13, 17};
  for (isa path : kernels::available_isas())
    for (std::size_t k : input_counts)
      for (std::size_t n : sizes)
        for (kernels::write_mode mode : {kernels::write_mode::accumulate, kernels::write_mode::overwrite}) {
          if (n > 300 && k > 9 && n % 2 == 0) continue; // keep the test fast; odd big sizes still run
          const std::size_t off = (n + k) % 3;
          test_array<Acc> out(n, off, rng);
          if (mode == kernels::write_mode::overwrite) // garbage that must be ignored
            for (auto& o : out.span()) o = std::numeric_limits<Acc>::quiet_NaN();
          std::vector<test_array<T>> xs;
          std::vector<std::span<const T>> inputs;
          std::vector<Acc> weights;
          std::uniform_real_distribution<double> wdist(0.5, 100.0);
          for (std::size_t j = 0; j < k; ++j) {
            xs.emplace_back(n, (off + j) % 4, rng);
            weights.push_back(static_cast<Acc>(wdist(rng)));
          }
          for (auto& x : xs) inputs.push_back(x.cspan());
          std::vector<double> ref(n);
          double magnitude = 0;
          for (std::size_t i = 0; i < n; ++i) {
            double s = mode == kernels::write_mode::overwrite ? 0.0 : static_cast<double>(out.span()[i]);
            double m = std::abs(s);
            for (std::size_t j = 0; j < k; ++j) {
              const double term = static_cast<double>(weights[j]) * static_cast<double>(inputs[j][i]);
              s += term;
              m += std::abs(term);
            }
            ref[i] = s;
            magnitude = std::max(magnitude, m);
          }
          const Acc guard_before = out.buffer[off + n];
          kernels::weighted_sum_on<Acc, T>(path, out.span(), inputs, weights, mode);
          for (std::size_t i = 0; i < n; ++i)
            ASSERT_NEAR(out.span()[i], ref[i], tolerance<Acc>(magnitude))
                << where(path, n, off) << " k=" << k << " i=" << i
                << " mode=" << (mode == kernels::write_mode::overwrite ? "overwrite" : "accumulate");
          ASSERT_EQ(out.buffer[off + n], guard_before) << "wrote past the end";
        }
}

TEST(KernelsWeightedSum, FloatIntoFloat) { check_weighted_sum<float, float>(); }
TEST(KernelsWeightedSum, FloatIntoDouble) { check_weighted_sum<double, float>(); }
TEST(KernelsWeightedSum, DoubleIntoDouble) { check_weighted_sum<double, double>(); }

TEST(KernelsWeightedSum, ManyInputsBeyondTheStackPointerList) {
  std::mt19937_64 rng(99);
  const std::size_t k = 70, n = 333;
  std::vector<test_array<float>> xs;
  std::vector<std::span<const float>> inputs;
  std::vector<double> weights(k, 0.25);
  for (std::size_t j = 0; j < k; ++j) xs.emplace_back(n, j % 4, rng);
  for (auto& x : xs) inputs.push_back(x.cspan());
  for (isa path : kernels::available_isas()) {
    std::vector<double> out(n, 1.0);
    kernels::weighted_sum_on<double, float>(path, out, inputs, weights);
    for (std::size_t i = 0; i < n; ++i) {
      double ref = 1.0;
      for (std::size_t j = 0; j < k; ++j) ref += 0.25 * static_cast<double>(inputs[j][i]);
      ASSERT_NEAR(out[i], ref, 1e-12) << kernels::to_string(path) << " i=" << i;
    }
  }
}

TEST(KernelsWeightedSum, PathsAgreeWithEachOther) {
  std::mt19937_64 rng(5);
  const std::size_t n = 5003;
  std::vector<test_array<float>> xs;
  std::vector<std::span<const float>> inputs;
  std::vector<double> weights;
  for (std::size_t j = 0; j < 11; ++j) {
    xs.emplace_back(n, j % 3, rng);
    weights.push_back(static_cast<double>(j + 1));
  }
  for (auto& x : xs) inputs.push_back(x.cspan());
  std::vector<double> first(n);
  kernels::weighted_sum_on<double, float>(isa::compiled, first, inputs, weights,
                                          kernels::write_mode::overwrite);
  for (isa path : kernels::available_isas()) {
    std::vector<double> out(n);
    kernels::weighted_sum_on<double, float>(path, out, inputs, weights, kernels::write_mode::overwrite);
    for (std::size_t i = 0; i < n; ++i) ASSERT_NEAR(out[i], first[i], 1e-12 * (1 + std::abs(first[i])));
  }
}

template <class Acc, class T>
void check_weighted_sum_checked() {
  std::mt19937_64 rng(4321);
  for (isa path : kernels::available_isas())
    for (std::size_t k : {0u, 1u, 3u, 8u, 33u})
      for (std::size_t n : {0u, 1u, 7u, 511u, 513u, 2049u, 9000u}) {
        std::vector<test_array<T>> xs;
        std::vector<std::span<const T>> inputs;
        std::vector<Acc> weights;
        for (std::size_t j = 0; j < k; ++j) {
          xs.emplace_back(n, j % 3, rng);
          weights.push_back(static_cast<Acc>(1.0 + static_cast<double>(j)));
        }
        for (auto& x : xs) inputs.push_back(x.cspan());
        test_array<Acc> base(n, 1, rng);
        std::vector<double> ref(n);
        double magnitude = 0;
        for (std::size_t i = 0; i < n; ++i) {
          double s = static_cast<double>(base.cspan()[i]), m = std::abs(s);
          for (std::size_t j = 0; j < k; ++j) {
            s += static_cast<double>(weights[j]) * static_cast<double>(inputs[j][i]);
            m += std::abs(static_cast<double>(weights[j]) * static_cast<double>(inputs[j][i]));
          }
          ref[i] = s;
          magnitude = std::max(magnitude, m);
        }
        const std::vector<Acc> base_copy(base.cspan().begin(), base.cspan().end());
        // Into a distinct buffer: base untouched.
        std::vector<Acc> out(n, std::numeric_limits<Acc>::quiet_NaN());
        const auto none1 = kernels::weighted_sum_checked_on<Acc, T>(path, out, base.cspan(), inputs, weights);
        ASSERT_FALSE(none1.has_value());
        for (std::size_t i = 0; i < n; ++i) ASSERT_NEAR(out[i], ref[i], tolerance<Acc>(magnitude)) << i;
        ASSERT_TRUE(std::equal(base_copy.begin(), base_copy.end(), base.cspan().begin()));
        // In place.
        const auto none2 =
            kernels::weighted_sum_checked_on<Acc, T>(path, base.span(), base.cspan(), inputs, weights);
        ASSERT_FALSE(none2.has_value());
        for (std::size_t i = 0; i < n; ++i)
          ASSERT_NEAR(base.cspan()[i], ref[i], tolerance<Acc>(magnitude)) << i;
        if (k == 0 || n == 0) continue;
        // A NaN/Inf anywhere is reported at its exact (input, index), the first in that order,
        // and a distinct base stays untouched.
        std::copy(base_copy.begin(), base_copy.end(), base.span().begin());
        for (std::size_t j : {std::size_t{0}, k / 2, k - 1})
          for (std::size_t i : {std::size_t{0}, n / 2, n - 1}) {
            T& slot = xs[j].span()[i];
            const T saved = slot;
            slot = (i % 2) ? std::numeric_limits<T>::infinity() : std::numeric_limits<T>::quiet_NaN();
            T* later = (j + 1 < k) ? &xs[j + 1].span()[0] : nullptr; // a second, later bad value
            const T saved_later = later ? *later : T(0);
            if (later) *later = -std::numeric_limits<T>::infinity();
            const auto hit =
                kernels::weighted_sum_checked_on<Acc, T>(path, out, base.cspan(), inputs, weights);
            ASSERT_TRUE(hit.has_value()) << "j=" << j << " i=" << i;
            EXPECT_EQ(*hit, (kernels::non_finite_element{j, i})) << kernels::to_string(path) << " n=" << n;
            ASSERT_TRUE(std::equal(base_copy.begin(), base_copy.end(), base.cspan().begin()));
            // In place: same report; a bad element in the first block means nothing was folded.
            std::vector<Acc> inplace(base_copy);
            const auto hit2 = kernels::weighted_sum_checked_on<Acc, T>(
                path, std::span<Acc>(inplace), std::span<const Acc>(inplace), inputs, weights);
            ASSERT_TRUE(hit2.has_value());
            EXPECT_EQ(*hit2, (kernels::non_finite_element{j, i}));
            if (i < kernels::checked_block_elements<T>(k)) {
              EXPECT_EQ(inplace, base_copy);
            }
            if (later) *later = saved_later;
            slot = saved;
          }
      }
}

TEST(KernelsWeightedSumChecked, FloatIntoDouble) { check_weighted_sum_checked<double, float>(); }
TEST(KernelsWeightedSumChecked, FloatIntoFloat) { check_weighted_sum_checked<float, float>(); }
TEST(KernelsWeightedSumChecked, DoubleIntoDouble) { check_weighted_sum_checked<double, double>(); }

TEST(KernelsWeightedSumChecked, BlockLengthFitsTheCacheBudget) {
  EXPECT_EQ(kernels::checked_block_elements<float>(32), 32768u);
  EXPECT_EQ(kernels::checked_block_elements<float>(1),
            kernels::checked_weighted_sum_tuning::max_block_elements);
  EXPECT_EQ(kernels::checked_block_elements<double>(100000), 512u);
  EXPECT_EQ(kernels::checked_block_elements<float>(0) % 64, 0u);
}

template <class T>
void check_reductions() {
  std::mt19937_64 rng(77);
  for (std::size_t n : sizes)
    for (std::size_t off : offsets) {
      test_array<T> x(n, off, rng), y(n, (off + 2) % 4, rng);
      double ref_dot = 0, ref_sq = 0, mag = 0;
      for (std::size_t i = 0; i < n; ++i) {
        const double a = static_cast<double>(x.cspan()[i]), b = static_cast<double>(y.cspan()[i]);
        ref_dot += a * b;
        ref_sq += a * a;
        mag += std::abs(a * b);
      }
      // Both are accumulated in double whatever T is: only double rounding differs.
      for (isa path : kernels::available_isas()) {
        EXPECT_NEAR(kernels::dot_on(path, x.cspan(), y.cspan()), ref_dot, 1e-13 * (1 + mag))
            << where(path, n, off);
        EXPECT_NEAR(kernels::squared_norm_on(path, x.cspan()), ref_sq, 1e-13 * (1 + ref_sq))
            << where(path, n, off);
      }
      EXPECT_NEAR(kernels::dot(x.cspan(), y.cspan()), ref_dot, 1e-13 * (1 + mag)) << "n=" << n;
      EXPECT_NEAR(kernels::squared_norm(x.cspan()), ref_sq, 1e-13 * (1 + ref_sq)) << "n=" << n;
    }
}

TEST(KernelsReductions, Float) { check_reductions<float>(); }
TEST(KernelsReductions, Double) { check_reductions<double>(); }

TEST(KernelsReductions, FloatProductsAreFormedInDouble) {
  // 1 + 2^-20 squared needs more than float's 24 bits to keep the 2^-40 term.
  const float v = 1.0f + 0x1p-20f;
  const std::vector<float> x(3, v);
  for (isa path : kernels::available_isas())
    EXPECT_EQ(kernels::squared_norm_on(path, std::span<const float>(x)),
              3.0 * (1.0 + 0x1p-20) * (1.0 + 0x1p-20));
}

template <class T>
void check_scale_and_clip() {
  std::mt19937_64 rng(3);
  for (std::size_t n : sizes)
    for (std::size_t off : offsets) {
      test_array<T> x(n, off, rng);
      std::vector<double> before(x.cspan().begin(), x.cspan().end());
      const T guard = x.buffer[off + n];
      kernels::scale(x.span(), T(-1.75));
      for (std::size_t i = 0; i < n; ++i)
        ASSERT_EQ(x.cspan()[i], static_cast<T>(static_cast<T>(before[i]) * T(-1.75)));
      ASSERT_EQ(x.buffer[off + n], guard);
      if (n == 0) continue;
      double norm = 0;
      for (std::size_t i = 0; i < n; ++i)
        norm += static_cast<double>(x.cspan()[i]) * static_cast<double>(x.cspan()[i]);
      norm = std::sqrt(norm);
      std::vector<T> copy(x.cspan().begin(), x.cspan().end());
      // Above the bound: scaled down to it.
      const double bound = norm / 3;
      EXPECT_NEAR(kernels::clip_by_l2_norm(x.span(), bound), norm, tolerance<T>(norm));
      EXPECT_NEAR(std::sqrt(kernels::squared_norm(x.cspan())), bound, tolerance<T>(bound) * 4) << "n=" << n;
      // Below and exactly at the bound: untouched.
      std::vector<T> after(x.cspan().begin(), x.cspan().end());
      const double now = std::sqrt(kernels::squared_norm(x.cspan()));
      kernels::clip_by_l2_norm(x.span(), now * 2);
      EXPECT_TRUE(std::equal(after.begin(), after.end(), x.cspan().begin()));
      kernels::clip_by_l2_norm(x.span(), now);
      EXPECT_TRUE(std::equal(after.begin(), after.end(), x.cspan().begin()));
    }
}

TEST(KernelsScale, Float) { check_scale_and_clip<float>(); }
TEST(KernelsScale, Double) { check_scale_and_clip<double>(); }

TEST(KernelsScale, ClipOfZeroVectorIsZeroAndUntouched) {
  std::vector<float> z(37, 0.0f);
  EXPECT_EQ(kernels::clip_by_l2_norm(std::span<float>(z), 1.0), 0.0);
  EXPECT_EQ(kernels::clip_by_l2_norm(std::span<float>(z), 0.0), 0.0);
  for (float v : z) EXPECT_EQ(v, 0.0f);
  std::vector<double> empty;
  EXPECT_EQ(kernels::clip_by_l2_norm(std::span<double>(empty), 1.0), 0.0);
}

TEST(KernelsScale, ClipToZeroBound) {
  std::vector<double> x = {3.0, 4.0};
  EXPECT_EQ(kernels::clip_by_l2_norm(std::span<double>(x), 0.0), 5.0);
  EXPECT_EQ(x[0], 0.0);
  EXPECT_EQ(x[1], 0.0);
}

template <class T>
void check_find_non_finite() {
  std::mt19937_64 rng(11);
  const T bad_values[] = {std::numeric_limits<T>::quiet_NaN(), std::numeric_limits<T>::infinity(),
                          -std::numeric_limits<T>::infinity(), -std::numeric_limits<T>::quiet_NaN(),
                          std::numeric_limits<T>::signaling_NaN()};
  for (std::size_t n : sizes)
    for (std::size_t off : offsets) {
      test_array<T> x(n, off, rng);
      // Extreme but finite values are not flagged.
      if (n > 2) {
        x.span()[0] = std::numeric_limits<T>::max();
        x.span()[1] = -std::numeric_limits<T>::max();
        x.span()[2] = std::numeric_limits<T>::denorm_min();
      }
      ASSERT_EQ(kernels::find_non_finite(x.cspan()), n) << "n=" << n;
      ASSERT_TRUE(kernels::all_finite(x.cspan()));
      // A bad value just past the end is not seen.
      x.buffer[off + n] = std::numeric_limits<T>::quiet_NaN();
      ASSERT_EQ(kernels::find_non_finite(x.cspan()), n);
      // Every position for small n (every tail), a spread of positions for large n.
      const std::size_t stride = n <= 300 ? 1 : 37;
      std::vector<std::size_t> positions;
      for (std::size_t p = 0; p < n; p += stride) positions.push_back(p);
      if (n > 0) positions.push_back(n - 1);
      for (std::size_t p : positions) {
        const T saved = x.span()[p];
        const T bad = bad_values[p % 5];
        x.span()[p] = bad;
        ASSERT_EQ(kernels::find_non_finite(x.cspan()), p) << "n=" << n << " off=" << off << " bad=" << bad;
        ASSERT_FALSE(kernels::all_finite(x.cspan()));
        if (p + 1 < n) { // the first of two is reported
          const T saved2 = x.span()[n - 1];
          x.span()[n - 1] = bad_values[(p + 1) % 5];
          ASSERT_EQ(kernels::find_non_finite(x.cspan()), p);
          x.span()[n - 1] = saved2;
        }
        x.span()[p] = saved;
      }
    }
}

TEST(KernelsFinite, Float) { check_find_non_finite<float>(); }
TEST(KernelsFinite, Double) { check_find_non_finite<double>(); }

TEST(KernelsViews, HostTensorViewOverloads) {
  std::vector<float> a = {1, 2, 3, 4, 5};
  std::vector<float> b = {1, 1, 1, 1, 1};
  std::vector<double> acc(5, 0.0);
  const host_view<float> va{std::span<float>(a)};
  const host_view<const float> vb{std::span<const float>(b)};
  EXPECT_EQ(kernels::dot(va, vb), 15.0);
  EXPECT_EQ(kernels::squared_norm(va), 55.0);
  kernels::scaled_accumulate(host_view<double>(std::span<double>(acc)), 2.0, va);
  EXPECT_EQ(acc[4], 10.0);
  kernels::scale(va, 2.0f);
  EXPECT_EQ(a[2], 6.0f);
  EXPECT_NEAR(kernels::clip_by_l2_norm(va, 1.0), std::sqrt(220.0), 1e-5);
  EXPECT_EQ(kernels::find_non_finite(vb), 5u);
  b[3] = std::numeric_limits<float>::infinity();
  EXPECT_EQ(kernels::find_non_finite(vb), 3u);
  EXPECT_FALSE(kernels::all_finite(vb));
  const std::span<const float> inputs[] = {std::span<const float>(b).first(3)};
  const double w[] = {1.0};
  std::vector<double> out(3, 5.0);
  kernels::weighted_sum(host_view<double>(std::span<double>(out)),
                        std::span<const std::span<const float>>(inputs), std::span<const double>(w),
                        kernels::write_mode::overwrite);
  EXPECT_EQ(out[0], 1.0);
}

TEST(KernelsDispatch, AvailablePathsAndOverride) {
  const auto paths = kernels::available_isas();
  ASSERT_FALSE(paths.empty());
  EXPECT_EQ(paths.front(), isa::compiled);
  EXPECT_TRUE(kernels::isa_available(kernels::best_isa()));
  for (isa path : paths) {
    kernels::scoped_isa_override guard(path);
    EXPECT_EQ(kernels::active_isa(), path);
  }
  EXPECT_EQ(kernels::active_isa(), kernels::best_isa());
  EXPECT_STREQ(kernels::to_string(isa::avx512), "avx512");
#if FEDPP_RUNTIME_DISPATCH && defined(__x86_64__)
  // On this project's machines (x86-64 with AVX2), the run-time paths exist and are exercised above.
  if (__builtin_cpu_supports("avx2")) {
    EXPECT_TRUE(kernels::isa_available(isa::avx2));
  }
#endif
}

} // namespace
